"""One benchmark run, start to end: sources, timings per thread count, floors, memory, sizes.

Called by `lstm_apps.bench.run_bench`; returns the report dict that becomes results.json.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lstm_apps.bench.options import BenchOptions
from lstm_apps.bench.report import BACKEND_NAMES, check_targets, ratios
from lstm_apps.bench.timing import Timing, machine_info

SCHEMA = 1


def _line(row: dict[str, Any], t: Timing) -> str:
    extra = ""
    if row["case"] == "stream":
        extra = f"  {row['per_chunk_ms']:.3f} ms/chunk  {row['real_time_factor']:6.0f}x real time"
    if row["case"] == "streams":
        extra = f"  {row['streams_real_time']:6.0f} streams in real time"
    return (
        f"  {row['model']:8s}{row['case']:8s}b{row['batch']:<4d}t{row['threads']:<3d}"
        f"{BACKEND_NAMES[row['backend']][:24]:24s}{t.median_ms:10.3f} ms ±{t.spread:4.0%}{extra}"
    )


def run(options: BenchOptions, log: Any = print) -> dict[str, Any]:
    import torch

    from lstm_apps.bench.floor import clip_products, measure_floor, step_products
    from lstm_apps.bench.sources import caption_source, speech_source
    from lstm_apps.runtime.session import default_bundle

    started = time.perf_counter()
    settings = options.settings
    machine = machine_info()
    log(f"lstm-apps bench ({'quick' if options.quick else 'full'}): {machine['cpu']}, "
        f"{machine['cores']} cores, threads {list(options.threads)}, "
        f"{settings.repeats} repeats")  # fmt: skip
    results: list[dict[str, Any]] = []

    def record(row: dict[str, Any], t: Timing) -> None:
        results.append({**row, **t.to_dict()})
        log(_line(row, t))

    def floor(model: str, case: str, batch: int, threads: int, products: list[Any]) -> None:
        """The numpy floor of `products` as one results row (plus its multiply-adds)."""
        f = measure_floor(products, work / f"{case}.npz", threads, settings.repeats,
                          settings.warmup)  # fmt: skip
        row = {"model": model, "case": case, "batch": batch, "threads": threads,
               "backend": "floor", **f}  # fmt: skip
        results.append(row)
        log(_line(row, Timing(**{k: f[k] for k in Timing.__dataclass_fields__})))

    want = {"speech", "caption"} if options.only is None else {options.only}
    weights: dict[str, str] = {}
    sizes: dict[str, int] = {}
    memory: dict[str, Any] = {}
    threads_before = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="lstm-apps-bench-") as tmp:
        work = Path(tmp)
        speech = caption = None
        if "speech" in want:
            bundle = options.speech_bundle or default_bundle("speech")
            speech = speech_source(bundle, work, options.speech_checkpoint,
                                   options.speech_config)  # fmt: skip
            weights["speech"] = speech.weights
            log(f"  speech weights: {speech.weights}")
        if "caption" in want:
            bundle = options.caption_bundle or default_bundle("caption")
            caption = caption_source(bundle, work, options.caption_checkpoint,
                                     options.caption_config)  # fmt: skip
            weights["caption"] = caption.weights
            log(f"  caption weights: {caption.weights}")
        try:
            for threads in options.threads:
                if speech is not None:
                    from lstm_apps.bench.speech import bench_speech

                    bench_speech(speech, threads, settings, options.speech_batches,
                                 options.stream_seconds, record)  # fmt: skip
                    if threads == 1 and options.stream_counts:
                        from lstm_apps.bench.streams import bench_streams

                        bench_streams(speech, settings, options.stream_counts, record)
                    for batch in options.speech_batches:
                        floor("speech", "clip", batch, threads, clip_products(speech.net, batch))
                if caption is not None:
                    from lstm_apps.bench.caption import bench_caption

                    bench_caption(caption, threads, settings, options.caption_batches, record)
                    for batch in options.caption_batches:
                        products = step_products(caption.model, batch)
                        floor("caption", "step", batch, threads, products)
        finally:
            torch.set_num_threads(threads_before)
        if options.memory:
            from lstm_apps.bench.memory import measure_memory

            memory["baseline"] = measure_memory("baseline")
            if speech is not None:
                memory["speech fp32"] = measure_memory("speech", speech.model, speech.stream)
                memory["speech int8"] = measure_memory("speech", speech.model_int8,
                                                       speech.stream_int8)  # fmt: skip
            if caption is not None:
                memory["caption fp32"] = measure_memory("caption", caption.encoder,
                                                        caption.decoder)  # fmt: skip
                memory["caption int8"] = measure_memory("caption", caption.encoder_int8,
                                                        caption.decoder_int8)  # fmt: skip
            for name, m in memory.items():
                log(f"  memory  {name:14s} peak RSS {m['peak_rss_mb']:7.1f} MB")
        for src in (speech, caption):
            if src is None:
                continue
            for f in asdict(src).values():
                if isinstance(f, Path):
                    sizes[_file_label(f, work)] = f.stat().st_size
    rats = ratios(results)
    targets = check_targets(results, rats)
    for t in targets:
        log(f"  target  {t['target']:58s} {t['value']:8.2f} ({t['goal']}) "
            f"{'met' if t['met'] else 'MISSED'}")  # fmt: skip
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": options.command,
        "mode": "quick" if options.quick else "full",
        "settings": asdict(settings),
        "threads": list(options.threads),
        "machine": machine,
        "weights": weights,
        "results": results,
        "ratios": rats,
        "targets": targets,
        "memory": memory,
        "sizes": sizes,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _file_label(path: Path, work: Path) -> str:
    """A bundle file by its bundle and name; a file the benchmark made is marked so."""
    if path.is_relative_to(work):
        rel = path.relative_to(work)
        if "bundle" in rel.parts:
            return f"{rel.parts[0]}/{path.name} (fresh export)"
        return f"{rel.parts[0]}/{path.name} (made by the benchmark)"
    return f"{path.parent.name}/{path.name}"
