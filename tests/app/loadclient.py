"""A light client of the Bokeh server protocol, for load tests: many sessions on one asyncio loop.

A browser on a student's laptop costs the server nothing but its messages. ``bokeh.client`` rebuilds every
session's whole Document in Python (about as costly as the server building it), which on a 2-core machine
running both halves would measure the load generator rather than the server. This client speaks the same
websocket protocol (bokeh.protocol frames: PULL-DOC, PATCH-DOC) but keeps only the JSON: an index of the models
by id, their attributes as patched, and the time each model last received new data.

A :class:`Session` opens like a browser (ACK, PULL-DOC-REQ, then DocumentReady so that Panel runs its
``onload`` callbacks), finds widgets by their CSS class, sets their ``value`` as a browser would, and waits for
the server's PATCH-DOC messages.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time

from bokeh.protocol import Protocol
from bokeh.protocol.receiver import Receiver
from bokeh.util.token import generate_jwt_token, generate_session_id
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

PROTOCOL = Protocol()
_ids = itertools.count(1)
DOCUMENT_READY = {"kind": "MessageSent", "msg_type": "bokeh_event",
                  "msg_data": {"type": "event", "name": "document_ready", "values": {"type": "map"}}}


class Session:
    """One Bokeh session over a websocket: ``await Session.open(ws_url)``."""

    def __init__(self, ws):
        self.ws = ws
        self.receiver = Receiver(PROTOCOL)
        self.models: dict[str, dict] = {}  # id -> {"name": type, "attributes": {...}}
        self.touched: dict[str, float] = {}  # id -> perf_counter() of the last PATCH-DOC that changed it
        self.errors: list[str] = []  # ERROR messages from the server
        self.patches = 0  # PATCH-DOC messages received
        self._news = asyncio.Event()
        self._reader: asyncio.Task | None = None

    @classmethod
    async def open(cls, ws_url: str, timeout: float = 120.0) -> Session:
        token = generate_jwt_token(generate_session_id())
        # (Tornado gives up on a handshake after 20 s by default; a browser waits, and so does a student here)
        request = HTTPRequest(ws_url, connect_timeout=timeout, request_timeout=timeout)
        ws = await asyncio.wait_for(
            websocket_connect(request, subprotocols=["bokeh", token], max_message_size=64 * 2**20), timeout)
        ws.protocol.set_nodelay(True)  # (as a browser does: TCP_NODELAY, no Nagle delay between a message's frames)
        self = cls(ws)
        ack = await asyncio.wait_for(self._read(), timeout)
        if ack is None or ack.msgtype != "ACK":
            raise ConnectionError(f"no ACK from {ws_url}: {ack and ack.msgtype}")
        await self._send("PULL-DOC-REQ", {})
        reply = await asyncio.wait_for(self._read(), timeout)
        while reply is not None and reply.msgtype == "PATCH-DOC":  # (a server callback ran before the reply)
            reply = await asyncio.wait_for(self._read(), timeout)
        if reply is None or reply.msgtype != "PULL-DOC-REPLY":
            raise ConnectionError(f"no document from {ws_url}: {reply and reply.msgtype}")
        self._index(reply.content)
        self._reader = asyncio.get_running_loop().create_task(self._read_forever())
        await self.send_events([DOCUMENT_READY])
        return self

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self.ws.close()

    # ---- protocol -------------------------------------------------------------------------------------
    async def _send(self, msgtype: str, content: dict) -> None:
        header = {"msgid": f"load{next(_ids)}", "msgtype": msgtype, "num_buffers": 0}
        for part in (header, {}, content):
            await self.ws.write_message(json.dumps(part))

    async def send_events(self, events: list[dict]) -> None:
        await self._send("PATCH-DOC", {"events": events})

    async def set_value(self, model_id: str, value, attr: str = "value") -> None:
        """What a browser sends when the user moves a widget."""
        self.models[model_id]["attributes"][attr] = value
        await self.send_events([{"kind": "ModelChanged", "model": {"id": model_id}, "attr": attr, "new": value}])

    async def _read(self):
        while True:
            fragment = await self.ws.read_message()
            if fragment is None:
                return None
            message = await self.receiver.consume(fragment)
            if message is not None:
                return message

    async def _read_forever(self) -> None:
        while True:
            message = await self._read()
            if message is None:
                self.errors.append("connection closed by the server")
                self._news.set()
                return
            if message.msgtype == "PATCH-DOC":
                self.patches += 1
                now = time.perf_counter()
                for event in message.content.get("events", []):
                    self._apply(event, now)
            elif message.msgtype == "ERROR":
                self.errors.append(str(message.content))
            self._news.set()

    def _index(self, node) -> None:
        """Register every model representation inside ``node`` (a document, an event's new value)."""
        stack = [node]
        while stack:
            x = stack.pop()
            if isinstance(x, dict):
                if x.get("type") == "object" and "id" in x and "name" in x:
                    entry = self.models.setdefault(x["id"], {"name": x["name"], "attributes": {}})
                    entry["attributes"].update(x.get("attributes", {}))
                stack.extend(x.values())
            elif isinstance(x, list):
                stack.extend(x)

    def _apply(self, event: dict, now: float) -> None:
        kind = event.get("kind")
        model = (event.get("model") or {}).get("id")
        if kind == "ModelChanged":
            self._index(event.get("new"))
            if model in self.models:
                self.models[model]["attributes"][event["attr"]] = event.get("new")
            self.touched[model] = now
        elif kind in ("ColumnDataChanged", "ColumnsStreamed", "ColumnsPatched"):
            if kind == "ColumnDataChanged" and model in self.models:
                self.models[model]["attributes"]["data"] = event.get("data")
            self.touched[model] = now
        elif kind in ("RootAdded",):
            self._index(event)

    async def wait(self, predicate, timeout: float = 120.0) -> None:
        """Until ``predicate()`` holds (checked after every message), at most ``timeout`` s."""
        deadline = time.perf_counter() + timeout
        while not predicate():
            if self.errors:
                raise ConnectionError("; ".join(self.errors))
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("the update did not arrive in time")
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), left)
            except TimeoutError:
                pass

    # ---- the dashboard's models ----------------------------------------------------------------------
    def find(self, kinds: tuple[str, ...], css: str) -> str | None:
        for model_id, m in self.models.items():  # (type names may be qualified: panel.models.widgets.TextInput)
            if m["name"].rsplit(".", 1)[-1] in kinds and css in (m["attributes"].get("css_classes") or []):
                return model_id
        return None

    def renderer_source(self, name: str) -> str | None:
        """The data source of the line named ``name`` (a configuration's deepest C-map curve)."""
        for m in self.models.values():
            a = m["attributes"]
            if m["name"] == "GlyphRenderer" and a.get("name") == name and isinstance(a.get("data_source"), dict):
                return a["data_source"].get("id")
        return None

    def first_row(self) -> str:
        """The readouts' row of the first configuration (the student's own), or "" before it is drawn."""
        return (self.readout_rows()[1:2] or [""])[0]

    def readout_rows(self) -> list[str]:
        model_id = self.find(("HTML",), "sigprop-readouts")
        text = self.models[model_id]["attributes"].get("text", "") if model_id else ""
        return re.findall(r"<tr>(.*?)</tr>", html.unescape(text if isinstance(text, str) else ""))


def _length(value) -> int:
    """Number of entries in a serialized column (an ndarray with a shape, or a list)."""
    if isinstance(value, dict):
        shape = value.get("shape")
        return int(shape[0]) if shape else len(value.get("array", []) or [])
    return len(value) if isinstance(value, list) else 0


def has_points(session: Session, source_id: str | None) -> bool:
    """Whether the data source ``source_id`` holds a drawn curve (its y column is not empty)."""
    if source_id is None or source_id not in session.models:
        return False
    data = session.models[source_id]["attributes"].get("data")
    entries = data.get("entries", []) if isinstance(data, dict) else []
    return any(key == "y" and _length(value) > 0 for key, value in entries)


# ---- a class of students ----------------------------------------------------------------------------------
ACTIVATIONS = ("tanh", "erf", "softplus", "gelu")
METHODS = ("Standard", "EOC", "DKS", "TAT")  # the Method select's labels
USER = re.compile(r"user-\d+")


async def student(ws_url: str, index: int, arrive: float, duration: float, pause=(3.0, 6.0), seed: int = 0,
                  depth_stops=()) -> dict:
    """Arrive after ``arrive`` s, open the dashboard from a link naming the first configuration ``user-<index>``
    (tanh, Standard with custom σ_w; the second is ReLU · He), then for
    ``duration`` s change its depth, σ_w, method or activation every ``pause`` s, each time timing the change
    until its new curve data arrives. Returns the timings and what the session saw."""
    import random
    from urllib.parse import urlencode

    rng = random.Random(seed * 100_003 + index)
    await asyncio.sleep(arrive)
    out = {"index": index, "opened": None, "latencies": [], "kinds": [], "foreign": [], "failed": None,
           "refused": 0}
    t0 = time.perf_counter()
    session = None
    try:
        name = f"user-{index}"
        query = urlencode({"n": 2, "c0.name": name, "c0.act": "tanh", "c0.m": "standard", "c0.s": "custom",
                           "c1.name": "ReLU · He", "c1.act": "relu", "c1.m": "standard", "c1.s": "he"})
        session = await Session.open(f"{ws_url}?{query}")  # (a link the lecturer shared, with the student's name)
        await session.wait(lambda: session.find(("TextInput",), "sigprop-title") is not None
                           and has_points(session, session.renderer_source(name)))
        out["opened"] = time.perf_counter() - t0

        def answered(t, check=None):
            """The change sent at ``t`` is answered: the readouts do not say "computing…", and the new curve
            data arrived after ``t`` (a curve is drawn only once computed), or the readouts, redrawn after ``t``,
            show the engine's refusal, or ``check`` sees the new state in them (a new method can give the very
            same curves, e.g. tanh's EOC at σ_b = 0 is σ_w = 1, and Bokeh sends no unchanged data). The readouts
            need not change: DKS gives tanh, softplus and GELU networks readouts equal to 4 digits, and Panel
            sends no unchanged text."""
            readouts = session.find(("HTML",), "sigprop-readouts")
            row = session.first_row()
            if "computing" in row:
                return False
            if session.touched.get(session.renderer_source(name), 0.0) > t:
                return True
            return session.touched.get(readouts, 0.0) > t and (
                "sigprop-row-error" in row or (check is not None and check()))

        async def change(model_id, value, kind, check=None):
            out["stage"] = f"{kind} -> {value!r}"
            t = time.perf_counter()
            await session.set_value(model_id, value)
            await session.wait(lambda: answered(t, check) and (check is None or check()))
            out["latencies"].append(time.perf_counter() - t)
            out["kinds"].append(kind)
            out["refused"] += "sigprop-row-error" in session.first_row()
            out["foreign"] += sorted(set(USER.findall(" ".join(session.readout_rows()))) - {name})

        state = {"method": "Standard", "activation": "tanh"}
        end = time.perf_counter() + duration
        while time.perf_counter() < end:
            await asyncio.sleep(rng.uniform(*pause))
            kinds = ["depth", "method", "activation"] + (["sigma_w"] if state["method"] == "Standard" else [])
            kind = rng.choice(kinds)
            refused = "sigprop-row-error" in session.first_row()
            if refused and state["method"] != "Standard":  # back to settings that work (the same refusal
                await change(session.find(("Select", "CustomSelect"), "sigprop-method"), "Standard", "method",
                             check=lambda: "Standard" in session.first_row())
                state["method"] = "Standard"  # again would not redraw anything)
            elif refused:  # Standard refused: softplus or gelu whose variance grows without bound; tanh is bounded
                await change(session.find(("TextInput",), "sigprop-activation"), "tanh", "activation")
                state["activation"] = "tanh"
            elif kind == "depth":
                slider = session.find(("Slider",), "sigprop-depth")
                options = session.models[slider]["attributes"]
                now = options.get("value")
                choices = [i for i in range(int(options.get("start", 0)), int(options.get("end", 1)) + 1)
                           if i != now and (not depth_stops or depth_stops[i] <= 1000)]
                stop = rng.choice(choices)
                # (a deep network degenerated to its fixed point draws the very same curves at the next depth,
                # and Bokeh sends no unchanged data: the readouts' depth column, or the engine's refusal of the
                # new depth, then says the change is in)
                depth = f"<td>{depth_stops[stop]:,}</td>" if depth_stops else None
                await change(slider, stop, kind, check=None if depth is None else (
                    lambda depth=depth: any(x in session.first_row()
                                            for x in (depth, "sigprop-row-error"))))
            elif kind == "sigma_w":
                slider = session.find(("Slider",), "sigprop-sigma_w")
                now = session.models[slider]["attributes"].get("value")
                await change(slider, rng.choice([v for v in (1.0, 1.2, 1.4, 1.6, 1.8) if v != now]), kind)
            elif kind == "method":
                new = rng.choice([m for m in METHODS if m != state["method"]])
                await change(session.find(("Select", "CustomSelect"), "sigprop-method"), new, kind,
                             check=lambda new=new: new in session.first_row())
                state["method"] = new
            else:
                new = rng.choice([a for a in ACTIVATIONS if a != state["activation"]])
                await change(session.find(("TextInput",), "sigprop-activation"), new, kind)
                state["activation"] = new
        location = next(i for i, m in session.models.items() if m["name"].endswith("Location"))
        await session.wait(lambda: f"c0.name={name}" in str(session.models[location]["attributes"].get("search")),
                           timeout=30)  # the URL keeps the session's own state
    except Exception as exc:  # noqa: BLE001 - reported per session, counted as an error by the caller
        out["failed"] = f"{type(exc).__name__}: {exc} (at {out.get('stage', 'open')})"
        if session is not None:  # what the session showed when it gave up
            out["readouts"] = session.readout_rows()
    finally:
        if session is not None:
            await session.close()
    return out


async def heavy_neighbour(ws_url: str, duration: float, stop: asyncio.Event, seed: int = 1) -> dict:
    """One session with four deep configurations (depth 10,000, a typed expression, TAT), whose sliders move
    continuously (a new value every 0.3 s, without waiting for the answers)."""
    import random
    from urllib.parse import urlencode

    rng = random.Random(seed)
    query = urlencode({
        "n": 4, "c0.act": "tanh(x) + 0.1*x", "c0.m": "tat", "c0.L": 10000, "c1.act": "softplus", "c1.m": "dks",
        "c1.L": 10000, "c2.act": "gelu", "c2.L": 10000, "c3.act": "tanh", "c3.m": "eoc", "c3.L": 10000,
        "c0.name": "heavy-0", "c1.name": "heavy-1", "c2.name": "heavy-2", "c3.name": "heavy-3",
    })
    session = await Session.open(f"{ws_url}?{query}")
    moves = 0
    try:
        await session.wait(lambda: session.find(("Slider",), "sigprop-tau") is not None, timeout=300)
        end = time.perf_counter() + duration
        while time.perf_counter() < end and not stop.is_set():
            tau = session.find(("Slider",), "sigprop-tau")
            await session.set_value(tau, round(rng.uniform(0.2, 2.0), 2))
            moves += 1
            await asyncio.sleep(0.3)
    finally:
        await session.close()
    return {"moves": moves, "errors": session.errors}


def percentile(values, q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def summary(results: list[dict]) -> dict:
    opened = [r["opened"] for r in results if r["opened"] is not None]
    lat = [x for r in results for x in r["latencies"]]
    return {
        "sessions": len(results),
        "failed": [r["failed"] for r in results if r["failed"]],
        "open_p50": percentile(opened, 50), "open_p95": percentile(opened, 95),
        "change_p50": percentile(lat, 50), "change_p95": percentile(lat, 95),
        "changes": len(lat), "refused": sum(r["refused"] for r in results),
        "foreign": sorted({f for r in results for f in r["foreign"]}),
    }


def run_async(main):
    """``asyncio.run(main())`` in a thread of its own (the caller's thread may hold an event loop already,
    e.g. Playwright's in a test session)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def run_class(ws_url: str, n: int, arrive_within: float, duration: float, seed: int = 0, offset: int = 0,
              pause=(3.0, 6.0), depth_stops=()) -> dict:
    """``n`` students arriving at random within ``arrive_within`` s (one asyncio loop, this thread)."""
    import random

    rng = random.Random(seed)
    arrivals = sorted(rng.uniform(0, arrive_within) for _ in range(n))

    async def main():
        return await asyncio.gather(*[
            student(ws_url, offset + i, a, duration, pause, seed, depth_stops) for i, a in enumerate(arrivals)])

    results = run_async(main)
    return {**summary(results), "results": results}


def run_with_heavy_neighbour(ws_url: str, n_light: int, duration: float, seed: int = 0, offset: int = 0,
                             depth_stops=()) -> dict:
    """``n_light`` students (arriving within 5 s) beside one heavy neighbour moving its sliders throughout."""
    import random

    rng = random.Random(seed)

    async def main():
        stop = asyncio.Event()
        heavy = asyncio.get_running_loop().create_task(heavy_neighbour(ws_url, duration + 60, stop))
        await asyncio.sleep(5.0)  # the neighbour is already computing when the class arrives
        light = await asyncio.gather(*[
            student(ws_url, offset + i, rng.uniform(0, 5), duration, (1.0, 2.0), seed, depth_stops)
            for i in range(n_light)])
        stop.set()
        return light, await heavy

    light, heavy = run_async(main)
    return {**summary(light), "results": light, "heavy": heavy}
