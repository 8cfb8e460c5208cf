"""The `mlflow-bridge` command: what the `mlflow deployments` CLI has no verb for.

    mlflow-bridge image build -m MODEL_URI --image REF [--base-image REF] [--insecure-registry] [-C key=value ...]
"""

import argparse
import json
import sys

from mlflow.exceptions import MlflowException


def _key_value(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"'{text}' is not key=value")
    return key, value


def _parser():
    parser = argparse.ArgumentParser(prog="mlflow-bridge", description="mlflow-bridge tools")
    commands = parser.add_subparsers(dest="command", required=True)
    image = commands.add_parser("image", help="model images").add_subparsers(dest="action", required=True)
    build = image.add_parser(
        "build",
        help="build a model image and push it, without docker",
        description="Builds an OCI image of an MLflow model (its dependencies and the model server) and pushes it.",
        epilog="Config keys (-C key=value):\n" + _config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("-m", "--model-uri", required=True, help="runs:/..., models:/name/version, models:/name@alias, or a path")
    build.add_argument("--image", required=True, help="where to push: <registry>/<repository>:<tag>")
    build.add_argument("--base-image", help="the image to build on (default: python:3.11-slim)")
    build.add_argument("--platform", help="linux/amd64 (default) or linux/arm64")
    build.add_argument("--insecure-registry", action="store_true", help="plain HTTP to the registry (e.g. on loopback)")
    build.add_argument("--json", action="store_true", help="print everything the push reports, as JSON")
    build.add_argument("-C", "--config", action="append", type=_key_value, default=[], metavar="KEY=VALUE")
    return parser


def _config_help():
    try:
        from mlflow_bridge import image

        return image.help().split("Config keys:\n", 1)[-1]
    except Exception:  # help text only; never fail argument parsing over it
        return ""


def main(argv=None):
    args = _parser().parse_args(argv)
    from mlflow_bridge import image

    config = dict(args.config)
    if args.platform:
        config["platform"] = args.platform
    if args.insecure_registry:
        config["insecure_registry"] = "true"
    try:
        result = image.build(args.model_uri, args.image, args.base_image, **config)
    except MlflowException as e:
        print(f"Error: {e.message}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else result["image"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
