"""bench/predict: `predict` on one `local` deployment through the plugin (C++
transport) versus a plain `requests.post` loop, on the same server in the same
run. Prints per-call latency, throughput and their ratios.

    python bench/predict.py [--calls 2000] [--threads 4] [--rows 10]

Both sides send the same DataFrame as MLflow's dataframe_split JSON and parse
the JSON answer; the plugin side is `client.predict(name, df)` exactly as a
user calls it (payload conversion, C++ HTTP call, PredictionsResponse).
"""

import argparse
import json
import os
import statistics
import tempfile
import threading
import time

import numpy as np
import pandas as pd
import requests


def make_model(folder, rows):
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    x = pd.DataFrame(np.random.default_rng(0).random((100, 4)), columns=["a", "b", "c", "d"])
    model = LinearRegression().fit(x, x.sum(axis=1))
    path = os.path.join(folder, "model")
    mlflow.sklearn.save_model(model, path, signature=infer_signature(x, model.predict(x)))
    return path, x.head(rows)


def run(label, call, calls, threads):
    """Runs `calls` calls spread over `threads` threads; returns latencies and wall time."""
    latencies = []
    lock = threading.Lock()
    per_thread = calls // threads

    def worker():
        mine = []
        for _ in range(per_thread):
            t0 = time.perf_counter()
            call()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    for _ in range(min(50, calls)):  # warm up connections and the server
        call()
    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started
    lat = sorted(latencies)
    result = {
        "label": label,
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))],
        "throughput": len(lat) / wall,
    }
    print(f"{label:<34} p50 {result['p50_ms']:7.3f} ms   p99 {result['p99_ms']:7.3f} ms   {result['throughput']:8.1f} calls/s")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rows", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        os.environ["MLFLOW_BRIDGE_HOME"] = home
        from mlflow.deployments import get_deploy_client

        path, df = make_model(home, args.rows)
        client = get_deploy_client("local")
        info = client.create_deployment("bench", path, config={"workers": 2})
        url = info["url"] + "/invocations"
        try:
            expected = client.predict("bench", df)["predictions"]

            def plugin():
                client.predict("bench", df)

            def plain_post():
                body = {"dataframe_split": json.loads(df.to_json(orient="split", index=False))}
                r = requests.post(url, json=body, timeout=60)
                r.raise_for_status()
                r.json()

            session = requests.Session()

            def session_post():
                body = {"dataframe_split": json.loads(df.to_json(orient="split", index=False))}
                r = session.post(url, json=body, timeout=60)
                r.raise_for_status()
                r.json()

            r = requests.post(url, json={"dataframe_split": json.loads(df.to_json(orient="split", index=False))})
            assert np.allclose(r.json()["predictions"], expected), "both sides must get the same answer"

            print(f"predict on one local deployment: {args.rows} rows, {args.calls} calls, {args.threads} threads (server: 2 workers)")
            for threads in (1, args.threads):
                print(f"-- {threads} thread(s)")
                ours = run("plugin client.predict (C++)", plugin, args.calls, threads)
                peer = run("requests.post loop", plain_post, args.calls, threads)
                keep = run("requests.Session().post loop", session_post, args.calls, threads)
                print(
                    f"   ratio vs requests.post:  latency p50 {peer['p50_ms'] / ours['p50_ms']:.2f}x lower, "
                    f"throughput {ours['throughput'] / peer['throughput']:.2f}x"
                )
                print(
                    f"   ratio vs requests.Session: latency p50 {keep['p50_ms'] / ours['p50_ms']:.2f}x lower, "
                    f"throughput {ours['throughput'] / keep['throughput']:.2f}x"
                )
        finally:
            client.delete_deployment("bench")


if __name__ == "__main__":
    main()
