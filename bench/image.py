"""bench/image: pushing a model image of about 200 MB to a local registry, ours
versus `skopeo copy` of the same layers, in the same run. Prints both push
times, their throughput and the ratio.

    python bench/image.py [--mb 200] [--rounds 3]

Each round starts two fresh Debian docker-registry instances on 127.0.0.1
(so that neither side finds a layer already there, and skopeo's blob cache
cannot turn its upload into a mount), pushes the same small base image to
both (not timed), builds the image once into a third registry and pulls it
into an OCI layout for skopeo (not timed), then times, alternating who goes
first and after a sync:
  - ours: `mlflow_bridge.image.build(...)`'s push phase (the layers are built
    first and not timed: "push_seconds" of the result);
  - skopeo: `skopeo copy oci:<layout> docker://...` of the very same image
    (its layers, config and manifest), pulled into an OCI layout first.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))

import registry as reg  # noqa: E402  (tests/servers: the same fixtures the tests use)


def make_model(folder, megabytes):
    import mlflow

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    path = os.path.join(folder, "model")
    mlflow.pyfunc.save_model(path, python_model=Echo())
    with open(os.path.join(path, "weights.bin"), "wb") as f:  # incompressible, like trained weights
        for _ in range(megabytes):
            f.write(os.urandom(1 << 20))
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="model size in MB")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from mlflow_bridge import image

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_BRIDGE_HOME"] = os.path.join(tmp, "home")
        model = make_model(tmp, args.mb)
        ours, theirs, size = [], [], 0
        for round_ in range(args.rounds):
            a = reg.Registry("plain", workdir=os.path.join(tmp, f"a{round_}")).start()
            b = reg.Registry("plain", workdir=os.path.join(tmp, f"b{round_}")).start()
            try:
                base_a = reg.make_base_image(a.host, "lib/base", "1")
                reg.make_base_image(b.host, "lib/base", "1")

                def run_ours():
                    os.sync()  # start from the same disk state as the peer
                    out = image.build(model, f"{a.host}/bench/model:1", base_a["ref"], insecure_registry="true",
                                      install_dependencies="false")
                    ours.append(out["push_seconds"])
                    return out

                def run_skopeo(layout):
                    os.sync()
                    start = time.perf_counter()
                    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:model",
                                    f"docker://{b.host}/bench/model:1"], check=True, env={**os.environ, "HOME": tmp})
                    theirs.append(time.perf_counter() - start)

                # The very same image as ours (its labels name this round's base registry), as an OCI layout
                # for skopeo: from a first, untimed build. Then both sides in turn, alternating who goes first.
                w = reg.Registry("plain", workdir=os.path.join(tmp, f"w{round_}")).start()
                try:
                    image.build(model, f"{w.host}/bench/model:1", base_a["ref"], insecure_registry="true",
                                insecure_base_registry="true", install_dependencies="false")
                    layout = os.path.join(tmp, f"layout{round_}")
                    reg.skopeo_copy(f"docker://{w.host}/bench/model:1", f"oci:{layout}:model")
                finally:
                    w.stop()
                if round_ % 2:
                    run_skopeo(layout)
                    out = run_ours()
                else:
                    out = run_ours()
                    run_skopeo(layout)
                size = out["uploaded_bytes"]
                assert reg.manifest_digest(f"{b.host}/bench/model:1") == out["digest"], "not the same image"
            finally:
                a.stop()
                b.stop()
            print(f"round {round_ + 1}: ours {ours[-1]:.2f} s, skopeo {theirs[-1]:.2f} s", flush=True)

    o, t = statistics.median(ours), statistics.median(theirs)
    mb = size / 1e6
    print(f"\nimage push of {mb:.0f} MB to a local registry (median of {args.rounds} rounds)")
    print(f"  mlflow-bridge   {o:6.2f} s  {mb / o:7.1f} MB/s")
    print(f"  skopeo copy     {t:6.2f} s  {mb / t:7.1f} MB/s")
    print(f"  ratio: ours is {t / o:.2f}x skopeo's throughput")


if __name__ == "__main__":
    main()
