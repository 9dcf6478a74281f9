#!/usr/bin/env python3
"""A small client of the seer gateway (seer.v1.Forecasts).

1. Ingests an hourly history for a new series (Forecasts.Ingest, client streaming).
2. Waits for the forecast the streaming pipeline makes of it (Forecasts.Watch, with
   Forecasts.GetLatest as a fallback poll), up to --timeout seconds, and prints it.
3. Asks for an ad-hoc forecast of a history sent in the request (Forecasts.Forecast).

Run ./generate.sh first (it writes the seer/v1/*_pb2*.py stubs next to this file).
"""

import argparse
import math
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

try:
    from seer.v1 import engine_pb2, gateway_pb2, gateway_pb2_grpc, observation_pb2
except ImportError:
    sys.exit("client.py: the generated stubs are missing; run ./generate.sh first")

HOUR = 3600
# 2025-01-01T00:00:00Z: the demo producer of `seer up` sends event times in 2025 on an hourly grid
DEFAULT_START = 1_735_689_600


def ts(seconds):
    t = Timestamp()
    t.FromSeconds(int(seconds))
    return t


def fmt_ts(t):
    return datetime.fromtimestamp(t.seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def daily_shape(i):
    """A value with a daily cycle, so the forecast has something to follow."""
    return 100.0 + 20.0 * math.sin(2 * math.pi * (i % 24) / 24) + (i % 5)


def print_forecast(title, f):
    print(f"{title}: series {f.series_id!r}, model {f.model} {f.model_version}, "
          f"issued {fmt_ts(f.issued_at)}, {len(f.mean)} steps, "
          f"observed points {f.observed_points}, partial window {f.partial_window}")
    levels = [q.level for q in f.quantiles]
    head = "  step  timestamp               mean      " + "".join(f"q{l:<9g}" for l in levels)
    print(head)
    for i, mean in enumerate(f.mean):
        when = fmt_ts(f.timestamps[i]) if i < len(f.timestamps) else "-"
        qs = "".join(f"{q.values[i]:<10.3f}" for q in f.quantiles)
        print(f"  {i + 1:<5} {when:<23} {mean:<9.3f} {qs}")


def ingest(stub, series_id, start, points, batch, timeout):
    """Sends `points` hourly observations in messages of `batch`; returns `accepted`."""

    def requests():
        for first in range(0, points, batch):
            obs = [
                observation_pb2.Observation(
                    series_id=series_id, timestamp=ts(start + i * HOUR), value=daily_shape(i))
                for i in range(first, min(first + batch, points))
            ]
            yield gateway_pb2.IngestRequest(observations=obs)

    resp = stub.Ingest(requests(), timeout=timeout)
    return resp.accepted


def wait_for_forecast(stub, series_id, timeout):
    """The series' first forecast: from a Watch stream, or a GetLatest poll, whichever is first.

    The Watch is opened before the poll starts, and with send_current a forecast published
    before the stream opened is sent too."""
    deadline = time.monotonic() + timeout
    found = {}
    done = threading.Event()

    def watch():
        call = stub.Watch(
            gateway_pb2.WatchRequest(series_ids=[series_id], send_current=True),
            timeout=timeout)
        found["call"] = call
        try:
            for msg in call:
                if msg.forecast.series_id == series_id:
                    found.setdefault("forecast", msg.forecast)
                    found.setdefault("via", "Watch")
                    done.set()
                    return
        except grpc.RpcError as e:
            if e.code() not in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
                found.setdefault("watch_error", e)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    while not done.is_set() and time.monotonic() < deadline:
        try:
            r = stub.GetLatest(gateway_pb2.GetLatestRequest(series_id=series_id), timeout=5)
            found.setdefault("forecast", r.forecast)
            found.setdefault("via", "GetLatest")
            done.set()
        except grpc.RpcError as e:
            # NOT_FOUND: no forecast yet; UNAVAILABLE: the gateway is still loading
            if e.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                raise
        done.wait(1.0)
    if "call" in found:
        found["call"].cancel()
    if "watch_error" in found:
        print(f"(Watch failed: {found['watch_error'].code().name}: "
              f"{found['watch_error'].details()})", file=sys.stderr)
    return found.get("forecast"), found.get("via")


def adhoc_forecast(stub, series_id, start, points, horizon, timeout):
    history = engine_pb2.SeriesWindow(
        series_id=series_id,
        start=ts(start),
        freq_seconds=HOUR,
        values=[daily_shape(i) for i in range(points)],
    )
    req = gateway_pb2.ForecastRequest(
        series_id=series_id, history=history, horizon=horizon, quantiles=[0.1, 0.5, 0.9])
    return stub.Forecast(req, timeout=timeout).forecast


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gateway", default="127.0.0.1:50052", help="gateway HOST:PORT")
    p.add_argument("--series", default=None, help="series id to create (default: a new python-<random>)")
    p.add_argument("--points", type=int, default=72, help="hourly observations to ingest")
    p.add_argument("--start", type=int, default=DEFAULT_START,
                   help="unix seconds of the first observation, on the hour (default 2025-01-01T00:00Z)")
    p.add_argument("--horizon", type=int, default=12, help="steps of the ad-hoc forecast")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the series' forecast")
    p.add_argument("--ca", default=None, help="CA certificate (PEM) of a gateway that serves TLS")
    p.add_argument("--token", default=None, help="bearer token (only the admin RPCs of Models need one)")
    args = p.parse_args()

    if args.start % HOUR:
        p.error("--start must be on the hour (a multiple of 3600)")
    series_id = args.series or f"python-{uuid.uuid4().hex[:8]}"

    if args.ca:
        with open(args.ca, "rb") as f:
            channel = grpc.secure_channel(args.gateway, grpc.ssl_channel_credentials(f.read()))
    else:
        channel = grpc.insecure_channel(args.gateway)
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
    except grpc.FutureTimeoutError:
        sys.exit(f"client.py: cannot connect to the gateway at {args.gateway}")
    stub = gateway_pb2_grpc.ForecastsStub(channel)

    try:
        accepted = ingest(stub, series_id, args.start, args.points, batch=24, timeout=30)
        print(f"Ingest: {accepted} observations of {series_id!r} accepted "
              f"({fmt_ts(ts(args.start))} onwards, hourly)")

        forecast, via = wait_for_forecast(stub, series_id, args.timeout)
        if forecast is None:
            sys.exit(f"client.py: no forecast of {series_id!r} within {args.timeout:g}s")
        print_forecast(f"Latest forecast (via {via})", forecast)
        print()

        adhoc = adhoc_forecast(stub, f"{series_id}-adhoc", args.start, args.points,
                               args.horizon, timeout=30)
        print_forecast("Ad-hoc Forecast", adhoc)
    except grpc.RpcError as e:
        sys.exit(f"client.py: {e.code().name}: {e.details()}")
    finally:
        channel.close()


if __name__ == "__main__":
    main()
