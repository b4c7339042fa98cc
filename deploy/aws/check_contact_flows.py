#!/usr/bin/env python3
"""Checks the sample contact flows (deploy/aws/contact-flow*.json) offline, as far as that
can be done without an Amazon Connect instance (scripts/check-deploy runs it):

- each is Flow language 2019-10-30 JSON with a StartAction, unique action identifiers,
  every transition pointing at an action of the flow, every action reachable, and an
  error branch on every action that can fail;
- each action type is one the flow's type supports (the restrictions in the Flow
  language reference: media streaming not in hold flows, EndFlowExecution only in
  whisper and queue flows, DisconnectParticipant and queue transfers not in whisper flows);
- Lambda blocks wait at most 8 s and pass action=start or stop; streaming blocks name
  the customer's audio both ways;
- the only placeholders are the ${...} names the README tells you to fill in.
"""

import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
# file -> its flow type (the --type of `aws connect create-contact-flow`)
FLOWS = {
    "contact-flow.json": "CONTACT_FLOW",
    "contact-flow-customer-whisper.json": "CUSTOMER_WHISPER",
    "contact-flow-disconnect.json": "CONTACT_FLOW",
}
PLACEHOLDERS = {"CallscribeFunctionArn", "CustomerWhisperFlowArn", "DisconnectFlowArn", "QueueArn"}
# action type -> flow types it may be used in (only the types these samples use)
ALLOWED = {
    "UpdateContactMediaStreamingBehavior": {"CONTACT_FLOW", "CUSTOMER_QUEUE", "CUSTOMER_WHISPER",
                                            "AGENT_WHISPER", "QUEUE_TRANSFER", "AGENT_TRANSFER"},
    "InvokeLambdaFunction": None,  # every flow type
    "Compare": None,
    "UpdateContactAttributes": None,
    "UpdateContactEventHooks": None,
    "UpdateContactTargetQueue": None,
    "TransferContactToQueue": {"CONTACT_FLOW", "CUSTOMER_QUEUE", "QUEUE_TRANSFER", "AGENT_TRANSFER"},
    "DisconnectParticipant": {"CONTACT_FLOW", "CUSTOMER_QUEUE", "QUEUE_TRANSFER", "AGENT_TRANSFER"},
    "EndFlowExecution": {"CUSTOMER_WHISPER", "AGENT_WHISPER", "CUSTOMER_QUEUE"},
}
TERMINAL = {"DisconnectParticipant", "EndFlowExecution"}


def check(name, flow_type, flow, errors):
    def bad(msg):
        errors.append(f"{name}: {msg}")

    if flow.get("Version") != "2019-10-30":
        bad("Version is not 2019-10-30")
    actions = {}
    for action in flow.get("Actions", []):
        ident = action.get("Identifier")
        if ident in actions:
            bad(f"identifier {ident} used twice")
        actions[ident] = action
    if flow.get("StartAction") not in actions:
        bad("StartAction names no action")
    edges = {}
    for ident, action in actions.items():
        kind = action.get("Type")
        if kind not in ALLOWED:
            bad(f"{ident}: action type {kind} is not one this check knows")
        elif ALLOWED[kind] is not None and flow_type not in ALLOWED[kind]:
            bad(f"{ident}: {kind} is not supported in {flow_type} flows")
        if "Parameters" not in action or "Transitions" not in action:
            bad(f"{ident}: needs Parameters and Transitions")
        t = action.get("Transitions", {})
        targets = [t.get("NextAction")] + [e.get("NextAction") for e in t.get("Errors", [])]
        targets += [c.get("NextAction") for c in t.get("Conditions", [])]
        edges[ident] = [x for x in targets if x is not None]
        for target in edges[ident]:
            if target not in actions:
                bad(f"{ident}: transition to unknown action {target}")
        if kind not in TERMINAL and not t.get("Errors"):
            bad(f"{ident}: no error branch")
        params = action.get("Parameters", {})
        if kind == "InvokeLambdaFunction":
            if not 0 < int(params.get("InvocationTimeLimitSeconds", "0")) <= 8:
                bad(f"{ident}: InvocationTimeLimitSeconds must be 1-8 (Connect waits at most 8 s)")
            if params.get("LambdaInvocationAttributes", {}).get("action") not in ("start", "stop"):
                bad(f"{ident}: the block must pass action=start or action=stop")
        if kind == "UpdateContactMediaStreamingBehavior":
            parts = params.get("Participants", [])
            if params.get("MediaStreamType") != "Audio" or [p.get("ParticipantType") for p in parts] != ["Customer"] \
                    or sorted(parts[0].get("MediaDirections", [])) != ["From", "To"]:
                bad(f"{ident}: stream the customer's audio From and To (both participants)")
    seen, todo = set(), [flow.get("StartAction")]
    while todo:
        ident = todo.pop()
        if ident in seen or ident not in actions:
            continue
        seen.add(ident)
        todo.extend(edges.get(ident, []))
    for ident in actions.keys() - seen:
        bad(f"{ident} is never reached")
    for token in set(re.findall(r"\$\{([^}]*)\}", json.dumps(flow))) - PLACEHOLDERS:
        bad(f"unknown placeholder ${{{token}}}")


def main():
    errors = []
    for name, flow_type in FLOWS.items():
        check(name, flow_type, json.loads((HERE / name).read_text(encoding="utf-8")), errors)
    strays = sorted(p.name for p in HERE.glob("contact-flow*.json") if p.name not in FLOWS)
    errors += [f"{s}: not a known flow (add it to FLOWS)" for s in strays]
    for error in errors:
        print(error, file=sys.stderr)
    if not errors:
        print(f"{len(FLOWS)} contact flows well-formed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
