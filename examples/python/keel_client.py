#!/usr/bin/env python3
"""A Keel gateway client in Python: connects to `keel serve` with an API key,
opens the key's account, optionally has an operator key fund it, places a
limit order and prints every message the server sends, one JSON object a
line (the protocol is in docs/PROTOCOL.md).

    keel keys add --config configs/serve.toml --account 1      # prints KEY
    keel keys add --config configs/serve.toml --account 0 --operator
    keel serve --config configs/serve.toml &
    python3 examples/python/keel_client.py --url ws://127.0.0.1:7070/v1/ws \
        --key KEY [--operator-key OPERATOR_KEY]

Messages are text frames of JSON: the `keel run` command schema without
`account` (the server fills in the session's), plus a `tag` the server echoes
in the command's `answer` (or `error`). Other accounts' commands reach the
session as `update`s. Needs the `websockets` package
(examples/python/requirements.txt).
"""

import argparse
import asyncio
import json
import sys

import websockets

WEBSOCKETS_MAJOR = int(websockets.__version__.split(".")[0])


def connect(url, key):
    """Opens a session; the key goes in the Authorization header."""
    headers = {"Authorization": f"Bearer {key}"}
    if WEBSOCKETS_MAJOR >= 14:
        from websockets.asyncio.client import connect as new_connect

        return new_connect(url, additional_headers=headers)
    return websockets.connect(url, extra_headers=headers)  # websockets < 14


def http_status(error):
    """The HTTP status of a refused upgrade, if that is what `error` is."""
    response = getattr(error, "response", None)
    if response is not None:
        return getattr(response, "status_code", None)
    return getattr(error, "status_code", None)


class Session:
    """One WebSocket session: sends tagged commands and waits for their
    answers, printing everything received."""

    def __init__(self, ws, name):
        self.ws = ws
        self.name = name
        self.next_tag = 0

    async def receive(self):
        msg = json.loads(await self.ws.recv())
        print(json.dumps({"from": self.name, **msg}), flush=True)
        return msg

    async def call(self, command):
        """Sends `command` with a new tag; returns its `answer`, or raises
        on its `error`. Updates that arrive meanwhile are printed."""
        self.next_tag += 1
        tag = f"{self.name}-{self.next_tag}"
        await self.ws.send(json.dumps({**command, "tag": tag}))
        while True:
            msg = await self.receive()
            if msg.get("tag") != tag:
                continue  # an update, or someone else's message
            if msg["type"] == "error":
                raise RuntimeError(f"refused: {msg['code']}: {msg['message']}")
            return msg


def rejection(answer):
    for event in answer.get("events", []):
        if event.get("type") == "rejected":
            return event
    return None


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:7070/v1/ws")
    parser.add_argument("--key", required=True, help="the account's API key")
    parser.add_argument(
        "--operator-key", help="an operator key, to deposit into the account first"
    )
    parser.add_argument("--symbol", default="BTC-USD")
    parser.add_argument("--price", default="30000.00")
    parser.add_argument("--qty", default="0.1000")
    args = parser.parse_args()

    try:
        ws = await connect(args.url, args.key)
    except Exception as error:  # noqa: BLE001 - report any refusal
        if http_status(error) == 401:
            print("unauthorized: the server refused the key (HTTP 401)", file=sys.stderr)
            return 3
        raise
    try:
        me = Session(ws, "client")
        welcome = await me.receive()
        assert welcome["type"] == "welcome", welcome
        account = welcome["account"]

        opened = await me.call({"type": "open_account", "request_id": 1})
        if rejection(opened):
            print(f"open_account: {rejection(opened)['reason']}", file=sys.stderr)

        if args.operator_key:
            async with connect(args.url, args.operator_key) as ows:
                operator = Session(ows, "operator")
                await operator.receive()  # welcome
                await operator.call(
                    {
                        "type": "deposit",
                        "account": account,
                        "request_id": 2,
                        "asset": "USD",
                        "amount": "100000",
                    }
                )

        placed = await me.call(
            {
                "type": "place_order",
                "request_id": 3,
                "symbol": args.symbol,
                "side": "buy",
                "order_type": "limit",
                "price": args.price,
                "qty": args.qty,
                "tif": "gtc",
            }
        )
        rejected = rejection(placed)
        if rejected:
            print(f"place_order rejected: {rejected['reason']}: {rejected['message']}")
            return 1
        order = next(e["order"] for e in placed["events"] if e["type"] == "order_accepted")
        status = await me.call({"type": "query", "request_id": 3})
        print(f"ok: account {account} order {order} seq {placed['seq']} query {status['status']}")
        return 0
    finally:
        await ws.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
