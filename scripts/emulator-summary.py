"""Counts the AWS calls the emulator recorded, per service and operation: the emulator's own
record that the contract suite really spoke DynamoDB, S3 and SQS to it."""
import collections
import json
import sys
from urllib.parse import urlsplit, parse_qs

counts = collections.Counter()
def entries(path):
    # moto's threads append entries and newlines in separate writes, which can interleave:
    # read objects one after another rather than line by line.
    text = open(path).read()
    dec = json.JSONDecoder()
    i = 0
    while True:
        j = text.find("{", i)
        if j < 0:
            return
        try:
            e, i = dec.raw_decode(text, j)
        except json.JSONDecodeError:
            i = j + 1
            continue
        if isinstance(e, dict) and "headers" in e and "url" in e:
            yield e


if True:
    for e in entries(sys.argv[1]):
        h = {k.lower(): v for k, v in e["headers"].items()}
        target = h.get("x-amz-target", "")
        if target.startswith("DynamoDB_"):
            counts[("DynamoDB", target.split(".", 1)[1])] += 1
        elif target.startswith("AmazonSQS."):
            counts[("SQS", target.split(".", 1)[1])] += 1
        elif "/moto-api/" in e["url"]:
            continue
        else:
            u = urlsplit(e["url"])
            q = parse_qs(u.query, keep_blank_values=True)
            parts = [p for p in u.path.split("/") if p]
            m = e["method"]
            presigned = " (presigned)" if "X-Amz-Signature" in q else ""
            if len(parts) <= 1:
                op = {"PUT": "CreateBucket", "GET": "ListObjectsV2" if "list-type" in q else "ListObjects",
                      "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(m, m)
            else:
                op = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
                      "DELETE": "DeleteObject"}.get(m, m)
            counts[("S3", op + presigned)] += 1

print("Calls the emulator served, from its own recording:")
for service in ("DynamoDB", "S3", "SQS"):
    ops = sorted((op, n) for (s, op), n in counts.items() if s == service)
    total = sum(n for _, n in ops)
    print(f"  {service:<8} {total:>5}  " + ", ".join(f"{op} {n}" for op, n in ops))
missing = [s for s in ("DynamoDB", "S3", "SQS") if not any(k[0] == s for k in counts)]
if missing:
    print(f"emulator: no {', '.join(missing)} calls were recorded", file=sys.stderr)
    sys.exit(1)
