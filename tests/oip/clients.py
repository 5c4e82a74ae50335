"""Calls `churn serve` through two clients of the Open Inference Protocol that nobody here wrote,
tritonclient's HTTP client and KServe's InferenceRESTClient, and prints what they got as JSON.

    python tests/oip/clients.py URL MODEL_NAME CUSTOMERS.csv

Each customer of the CSV is sent as one tensor per raw field (BYTES for text, FP64 for numbers,
as GET /v2/models/{name} declares them): with tritonclient in binary tensor data (its default)
and in JSON, with KServe's SDK in JSON; and once as one FP32 tensor of the model's columns when
`--columns FILE.csv` gives them. The test compares the probabilities with /predict's.
"""
import asyncio
import csv
import json
import sys

import numpy as np
import tritonclient.http as triton
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


def tensors(meta, rows):
    out = []
    for t in meta["inputs"]:
        col = [r[t["name"]] for r in rows]
        if t["datatype"] == "BYTES":
            out.append((t["name"], t["datatype"], np.array(col, dtype=object)))
        else:
            out.append((t["name"], t["datatype"], np.array([float(v) if v.strip() else np.nan for v in col])))
    return out


def with_triton(url, name, rows):
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    result = {"live": client.is_server_live(), "ready": client.is_server_ready(), "model_ready": client.is_model_ready(name)}
    meta = client.get_model_metadata(name)
    for binary in (True, False):
        inputs = []
        for n, dt, arr in tensors(meta, rows):
            i = triton.InferInput(n, [len(rows)], dt)
            i.set_data_from_numpy(arr, binary_data=binary)
            inputs.append(i)
        r = client.infer(name, inputs)
        key = "binary" if binary else "json"
        result[key] = {"churn_probability": r.as_numpy("churn_probability").tolist(), "churn": r.as_numpy("churn").tolist()}
    outputs = [triton.InferRequestedOutput("churn_probability"), triton.InferRequestedOutput("reasons")]
    r = client.infer(name, inputs, outputs=outputs)
    result["reasons"] = [json.loads(x) for x in r.as_numpy("reasons").tolist()]
    try:
        client.infer("no-such-model", inputs)
        result["unknown_model_error"] = None
    except triton.InferenceServerException as e:
        result["unknown_model_error"] = e.message()
    return result


async def with_kserve(url, name, rows, meta):
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    result = {"ready": await client.is_server_ready(url), "model_ready": await client.is_model_ready(url, name)}
    inputs = []
    for n, dt, arr in tensors(meta, rows):
        data = arr.tolist() if dt == "BYTES" else [None if np.isnan(v) else v for v in arr.tolist()]
        inputs.append(InferInput(name=n, shape=[len(rows)], datatype=dt, data=data))
    request = InferRequest(model_name=name, infer_inputs=inputs, request_id="kserve-1",
                           request_outputs=[RequestedOutput("churn_probability"), RequestedOutput("churn")])
    response = await client.infer(url, request, model_name=name)
    result["id"] = response.id
    result["churn_probability"] = [float(x) for x in response.outputs[0].data]
    result["churn"] = [bool(x) for x in response.outputs[1].data]
    await client.close()
    return result


def main():
    url, name, table = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(table, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    meta = triton.InferenceServerClient(url=url.removeprefix("http://")).get_model_metadata(name)
    out = {"triton": with_triton(url, name, rows), "kserve": asyncio.run(with_kserve(url, name, rows, meta))}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
