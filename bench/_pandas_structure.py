"""The zigzag, structure, Fibonacci and Elliott factors written plainly with pandas, for
bench/signals.py to time side by side with signals.factors (and for the tests to compare against).

Same rules as signals/factors/{pivots,structure,fibonacci,elliott}.py (docs/signals.md), written
out again row by row over pandas Series rather than shared: if the two disagree, one of them is
wrong. `structure_all(df, zigzag_pct)` takes a DataFrame with columns high, low, close and ts
(epoch milliseconds; a `ts` index works too) and answers
`{"pivots": [...], "structure": {...}, "fibonacci": {...}, "elliott": {...}}`.
"""

from __future__ import annotations

import pandas as pd

RETRACEMENTS = [0.236, 0.382, 0.5, 0.618, 0.786]
EXTENSIONS = [1.272, 1.618, 2.618]


def pivots_of(df: pd.DataFrame, zigzag_pct: float) -> tuple[list[dict], dict | None]:
    """Confirmed zigzag pivots as dicts {i, ts, price, kind}, and the open leg's extreme."""
    highs: pd.Series = df["high"].reset_index(drop=True)
    lows: pd.Series = df["low"].reset_index(drop=True)
    stamps = (df["ts"] if "ts" in df.columns else pd.Series(df.index)).reset_index(drop=True)
    rise_by = 1 + zigzag_pct / 100
    fall_by = 1 - zigzag_pct / 100
    out: list[dict] = []

    def pivot(i: int, kind: str) -> dict:
        price = highs.iloc[i] if kind == "high" else lows.iloc[i]
        return {"i": i, "ts": int(stamps.iloc[i]), "price": float(price), "kind": kind}

    state = "searching"
    top_at = bottom_at = 0
    best_at = 0
    for i, h in highs.items():
        low = lows.iloc[i]
        if i == 0:
            continue
        if state == "searching":
            if h > highs.iloc[top_at]:
                top_at = i
            if low < lows.iloc[bottom_at]:
                bottom_at = i
            went_up = bottom_at < i and h >= lows.iloc[bottom_at] * rise_by
            went_down = top_at < i and low <= highs.iloc[top_at] * fall_by
            if went_up and went_down:
                if top_at < bottom_at:
                    out += [pivot(top_at, "high"), pivot(bottom_at, "low")]
                    state = "rising"
                else:
                    out += [pivot(bottom_at, "low"), pivot(top_at, "high")]
                    state = "falling"
            elif went_up:
                out.append(pivot(bottom_at, "low"))
                state = "rising"
            elif went_down:
                out.append(pivot(top_at, "high"))
                state = "falling"
            if state == "rising":
                best_at = int(highs.iloc[out[-1]["i"] + 1 : i + 1].idxmax())
            elif state == "falling":
                best_at = int(lows.iloc[out[-1]["i"] + 1 : i + 1].idxmin())
        elif state == "rising":
            if h > highs.iloc[best_at]:
                best_at = i
            elif low <= highs.iloc[best_at] * fall_by:
                out.append(pivot(best_at, "high"))
                state, best_at = "falling", i
        else:
            if low < lows.iloc[best_at]:
                best_at = i
            elif h >= lows.iloc[best_at] * rise_by:
                out.append(pivot(best_at, "low"))
                state, best_at = "rising", i
    open_leg = None
    if state == "rising":
        open_leg = pivot(best_at, "high")
    elif state == "falling":
        open_leg = pivot(best_at, "low")
    return out, open_leg


def _levels(prices: list[float], tol: float) -> list[tuple[float, int]]:
    groups: list[list[float]] = []
    for price in sorted(prices):
        if groups and price <= (sum(groups[-1]) / len(groups[-1])) * (1 + tol):
            groups[-1].append(price)
        else:
            groups.append([price])
    return [(sum(g) / len(g), len(g)) for g in groups]


def _double(seq: list[dict], closes: pd.Series, tol: float) -> str | None:
    for drop in (0, 1):
        if len(seq) - drop < 3:
            continue
        first, middle, second = seq[len(seq) - drop - 3 : len(seq) - drop]
        if first["kind"] != second["kind"] or first["kind"] == middle["kind"]:
            continue
        if abs(first["price"] - second["price"]) > max(first["price"], second["price"]) * tol:
            continue
        later = closes.iloc[second["i"] + 1 :]
        neck = middle["price"]
        if first["kind"] == "high":
            through = later[later < neck]
            if through.empty:
                continue
            since = closes.loc[through.index[0] :]
            height = max(first["price"], second["price"]) - neck
            if since.max() > neck + height or since.min() <= neck - height:
                continue
            return "double_top"
        through = later[later > neck]
        if through.empty:
            continue
        since = closes.loc[through.index[0] :]
        height = neck - min(first["price"], second["price"])
        if since.min() < neck - height or since.max() >= neck + height:
            continue
        return "double_bottom"
    return None


def _structure(pivots: list[dict], open_leg: dict | None, closes: pd.Series, pct: float) -> dict:
    tol = pct / 3 / 100
    last = closes.iloc[-1]
    levels = _levels([p["price"] for p in pivots], tol)
    below = sorted([lv for lv in levels if lv[0] < last], reverse=True)[:5]
    above = sorted([lv for lv in levels if lv[0] >= last])[:5]
    if below and above:
        low, high = below[0][0], above[0][0]
        score = 0.4 * (1 - 2 * ((last - low) / (high - low) if high > low else 0.5))
    else:
        score = 0.2 if below else -0.2
    pattern = _double(pivots + ([open_leg] if open_leg else []), closes, tol)
    score += {"double_top": -0.6, "double_bottom": 0.6, None: 0.0}[pattern]
    return {
        "score": max(-1.0, min(1.0, score)),
        "support": [lv[0] for lv in below],
        "resistance": [lv[0] for lv in above],
        "pattern": pattern,
    }


def _fibonacci(pivots: list[dict], df: pd.DataFrame) -> dict:
    if len(pivots) < 2:
        return {"score": 0.0, "levels": {}, "extensions": {}}
    a, b = pivots[-2]["price"], pivots[-1]["price"]
    height = b - a
    out = {
        "levels": {f"{k:g}": b - k * height for k in RETRACEMENTS},
        "extensions": {f"{k:g}": a + k * height for k in EXTENSIONS},
    }
    if height == 0:
        return {"score": 0.0, **out}
    rest = df.iloc[pivots[-1]["i"] + 1 :]
    close, before = df["close"].iloc[-1], df["close"].iloc[-2]
    if height > 0:
        far = rest["low"].min() if len(rest) else close
        moving_on = close > before
    else:
        far = rest["high"].max() if len(rest) else close
        moving_on = close < before
    now, deepest = (b - close) / height, (b - far) / height
    score = None
    for level, value in [(0.382, 0.4), (0.5, 0.5), (0.618, 0.7), (0.786, 0.3)]:
        if abs(deepest - level) <= 0.05 and now <= deepest - 0.05 and moving_on:
            score = value
            break
    if score is None:
        score = 0.3 if now < 0.236 else 0.15 if now <= 0.618 else -0.3 if now <= 1 else -0.6
    return {"score": score if height > 0 else -score, **out}


def _impulse_ok(prices: list[float], up: bool) -> bool:
    p = prices if up else [-x for x in prices]
    for k in range(len(p) - 1):
        moved = p[k + 1] - p[k]
        if (k % 2 == 0 and moved <= 0) or (k % 2 == 1 and moved >= 0):
            return False
    if p[2] <= p[0] or p[3] <= p[1]:
        return False
    if len(p) > 4 and p[4] <= p[1]:
        return False
    return not (len(p) == 6 and p[3] - p[2] <= min(p[1] - p[0], p[5] - p[4]))


def _confidence(prices: list[float], up: bool) -> float:
    p = prices if up else [-x for x in prices]
    one, three = p[1] - p[0], p[3] - p[2]
    r2 = (p[1] - p[2]) / one
    parts = [(0.3, max(0.0, 1 - abs(three / one - 1.618)))]
    band = 1.0 if 0.5 <= r2 <= 0.618 else max(0.0, 1 - min(abs(r2 - 0.5), abs(r2 - 0.618)) / 0.25)
    parts.append((0.2, band))
    if len(p) > 4:
        r4 = (p[3] - p[4]) / three
        parts.append((0.2, max(0.0, 1 - abs(r4 - 0.382) / 0.25)))
        parts.append((0.15, min(1.0, abs(r2 - r4) / 0.25)))
    if len(p) == 6:
        parts.append((0.15, max(0.0, 1 - abs((p[5] - p[4]) / one - 1))))
    fit = sum(w * f for w, f in parts) / sum(w for w, _ in parts)
    return fit * {4: 0.6, 5: 0.8}.get(len(p), 1.0)


def _elliott(pivots: list[dict], close: float) -> dict:
    # (points, pivots after the last point, score weight), most preferred first
    tries = [(6, 0, -0.5), (5, 0, 0.8), (4, 0, -0.4), (6, 1, -0.3), (6, 2, -0.3)]
    found: list[tuple[int, float, float, list[dict], bool]] = []
    for rank, (size, after, weight) in enumerate(tries):
        end = len(pivots) - after
        if end < size:
            continue
        pts = pivots[end - size : end]
        up = pts[0]["kind"] == "low"
        prices = [pt["price"] for pt in pts]
        if not _impulse_ok(prices, up):
            continue
        sign = 1 if up else -1
        if size < 6:
            p = [sign * x for x in prices]
            c = sign * close
            if c <= p[1] or (size == 5 and p[3] - p[2] < p[1] - p[0] and c - p[4] >= p[3] - p[2]):
                continue
        found.append((rank, _confidence(prices, up), weight * sign, pts, up))
    if not found:
        return {"score": 0.0, "waves": [], "valid": False, "confidence": 0.0}
    top = min(f[0] for f in found)
    _, conf, weight, pts, _ = max((f for f in found if f[0] == top), key=lambda f: f[1])
    return {
        "score": max(-1.0, min(1.0, weight * conf)),
        "waves": [{"label": str(k), "ts": pt["ts"], "price": pt["price"]} for k, pt in enumerate(pts)],
        "valid": True,
        "confidence": round(conf, 4),
    }


def structure_all(df: pd.DataFrame, zigzag_pct: float) -> dict:
    """Pivots, structure, Fibonacci and Elliott of the candles in `df` (module doc)."""
    frame = df.reset_index(drop="ts" in df.columns)
    if "ts" not in frame.columns:
        frame = frame.rename(columns={frame.columns[0]: "ts"})
    pivots, open_leg = pivots_of(frame, zigzag_pct)
    closes = frame["close"]
    if len(frame) < 20 or not pivots:
        empty = {"score": 0.0}
        return {"pivots": pivots, "structure": empty, "fibonacci": empty, "elliott": empty}
    return {
        "pivots": [{"ts": p["ts"], "price": p["price"], "kind": p["kind"]} for p in pivots],
        "structure": _structure(pivots, open_leg, closes, zigzag_pct),
        "fibonacci": _fibonacci(pivots, frame),
        "elliott": _elliott(pivots, float(closes.iloc[-1])),
    }
