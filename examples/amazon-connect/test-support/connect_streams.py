"""Writes what Amazon Connect would put in a contact's Lambda event for each stream of a
running KVS emulator: ContactId, StreamARN, StartFragmentNumber and StartTimestamp.

    python3 connect_streams.py KVS_URL KVS_LOG OUT.json NAME [NAME ...]

The ContactId is the one the emulator tags the stream's fragments with (it prints it in
its log), so callscribe's ContactId check passes as it does for a real contact. The start
fragment number and timestamp are read from the stream itself, as Connect reports them:
the first fragment of an EARLIEST GetMedia (the emulator ignores signatures, so a plain
POST does).
"""

import json
import re
import sys
import urllib.request

NUMBER = re.compile(rb"AWS_KINESISVIDEO_FRAGMENT_NUMBER.{1,12}?(\d{47})", re.S)
PRODUCER = re.compile(rb"AWS_KINESISVIDEO_PRODUCER_TIMESTAMP.{1,12}?(\d+)\.(\d{3})", re.S)


def first_fragment(kvs_url, arn):
    body = {"StreamARN": arn, "StartSelector": {"StartSelectorType": "EARLIEST"}}
    request = urllib.request.Request(
        kvs_url + "/getMedia",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    data = b""
    with urllib.request.urlopen(request, timeout=10) as response:
        while len(data) < 1 << 20:
            chunk = response.read1(65536)
            if not chunk:
                break
            data += chunk
            number, producer = NUMBER.search(data), PRODUCER.search(data)
            if number and producer:
                ms = int(producer.group(1)) * 1000 + int(producer.group(2))
                return number.group(1).decode(), str(ms)
    raise SystemExit(f"no fragment number in the first GetMedia bytes of {arn}")


def main():
    kvs_url, log_path, out_path, *names = sys.argv[1:]
    log = open(log_path, encoding="utf-8").read()
    streams = {}
    for name in names:
        found = re.search(
            rf"^stream {re.escape(name)} \(([^)]*), ContactId ([^)]+)\)\n\s+arn (\S+)$", log, re.M
        )
        if not found:
            raise SystemExit(f"stream {name} is not in the emulator's log {log_path}")
        arn = found.group(3)
        number, start_ms = first_fragment(kvs_url, arn)
        streams[name] = {
            "contactId": found.group(2),
            "streamArn": arn,
            "startFragmentNumber": number,
            "startTimestamp": start_ms,
        }
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump(streams, out, indent=2)


if __name__ == "__main__":
    main()
