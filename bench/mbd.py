"""Multi-Band Diffusion decode time against the EnCodec decoder, same codes, same run, random weights.

    python bench/mbd.py                       # 10 s of audio, published sizes, projected MBD total
    python bench/mbd.py --full --seconds 0.5  # run the whole MBD decode and compare with the projection

Sizes: the EnCodec is facebook/encodec_32khz's architecture (transformers, as the MusicGen models use
it); the MBD has 4 bands with the U-Net of audiocraft's published model config
(``config/model/score/basic.yaml``: hidden 48, depth 4, growth 4, kernel 8, stride 4, emb_all_layers),
conditioned on the codec's 128-dim latent, the real noise schedule and 20 model calls per band;
bands 2 and 3 have the band processor, as audiocraft's 4-band grid trains them. ``--bottleneck``
adds the transformer or BiLSTM bottleneck the architecture allows.

One MBD decode is ``bands x 20`` U-Net calls on the full-length signal plus band processors, re-EQ,
and the codec's own decode and latent (the EQ reference and the condition). On a small CPU a full
10 s decode takes over an hour, so by default the U-Net call is timed (``--calls`` times on the
full-length input, best kept) and multiplied by the number of calls; everything else is measured
in full. Weight values do not change the time, so the bands share one U-Net's weights.
Times are process CPU seconds (all threads together), the measure that a shared machine's load does
not distort; divide by the thread count for the wall time of an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicgen_bridge.engine.decoders.mbd import BandProcessor, DiffusionBand, MultiBandDiffusion, re_eq
from musicgen_bridge.engine.decoders.mbd_schedule import NoiseSchedule
from musicgen_bridge.engine.generation.fast.archs import _encodec_32khz
from musicgen_bridge.engine.models.audiocraft.codec import HFEncodecCodec
from musicgen_bridge.engine.models.audiocraft.diffusion_unet import DiffusionUnet, UnetConfig, param_count
from musicgen_bridge.engine.models.audiocraft.tiny_mbd import PUBLISHED_UNET, SCHEDULE


def best_of(fn, repeats: int) -> float:
    """Least process CPU time over ``repeats`` runs.

    CPU seconds, not wall time: on a shared machine wall time depends on the neighbours' load,
    while the work each decoder does (and so the ratio) does not.
    """
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def build(args) -> tuple[HFEncodecCodec, MultiBandDiffusion]:
    from transformers import EncodecModel

    torch.manual_seed(0)
    codec = HFEncodecCodec(EncodecModel(_encodec_32khz()).eval(), "encodec_32khz (random)")
    unet_cfg = dict(PUBLISHED_UNET, codec_dim=codec.model.config.codebook_dim,
                    bilstm=args.bottleneck == "bilstm", transformer=args.bottleneck == "transformer")
    unet = DiffusionUnet(UnetConfig.from_cfg(unet_cfg, channels=1, num_steps=SCHEDULE["num_steps"]))
    schedule = NoiseSchedule.from_cfg(SCHEDULE)
    bands = []
    for i in range(args.bands):
        proc = BandProcessor(codec.sample_rate, use=i >= args.bands // 2, power_std=0.75)
        if proc.use:  # plausible running statistics (values do not change the time)
            proc.counts.fill_(1.0), proc.sum_x2.fill_(1.0), proc.sum_target_x2.fill_(1.0)
        bands.append(DiffusionBand(unet, schedule, proc))
    return codec, MultiBandDiffusion(bands, codec.sample_rate, codec)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--bands", type=int, default=4)
    ap.add_argument("--bottleneck", choices=["none", "bilstm", "transformer"], default="none")
    ap.add_argument("--calls", type=int, default=1, help="U-Net calls timed on the full-length input")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the cheap stages (best kept)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--full", action="store_true", help="also run the whole MBD decode")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    codec, mbd = build(args)
    frames = round(args.seconds * codec.frame_rate)
    codes = torch.randint(0, codec.cardinality, (1, codec.num_codebooks, frames),
                          generator=torch.Generator().manual_seed(1))
    steps = NoiseSchedule.from_cfg(SCHEDULE).default_steps()
    calls = args.bands * (len(steps) - 1)
    unet = mbd.bands[0].unet
    print(f"audio {args.seconds:g} s at {codec.sample_rate} Hz ({frames} frames), {args.threads} threads")
    print(f"encodec: {param_count(codec.model.decoder) / 1e6:.1f}M decoder params")
    print(f"mbd: {args.bands} bands x {param_count(unet) / 1e6:.1f}M params, widths "
          f"{[o for _, o in unet.cfg.widths()]}, bottleneck {args.bottleneck}, {calls} U-Net calls")

    with torch.no_grad():
        codec.decode(codes[..., :2])  # warm-up
        t_codec = best_of(lambda: codec.decode(codes), args.repeats)
        ref, emb = codec.decode(codes), codec.decode_latent(codes)
        t_latent = best_of(lambda: codec.decode_latent(codes), args.repeats)
        unet(ref[..., :4000], steps[0], emb[..., :7])  # warm-up
        t_call = best_of(lambda: unet(torch.randn_like(ref), steps[0], emb), args.calls)
        t_proc = sum(best_of(lambda b=b: b.processor(ref), args.repeats) for b in mbd.bands)
        re_eq(ref, ref, codec.sample_rate)  # builds and caches the 32-band splitter
        t_eq = best_of(lambda: re_eq(ref, ref, codec.sample_rate), args.repeats)
    t_mbd = calls * t_call + t_proc + t_eq + t_codec + t_latent
    print(f"encodec decode          {t_codec:9.3f} s   CPU")
    print(f"mbd one U-Net call      {t_call:9.3f} s   CPU, x {calls}")
    print(f"mbd processors + re_eq  {t_proc + t_eq:9.3f} s   (+ codec decode and latent for EQ and condition)")
    print(f"mbd decode (projected)  {t_mbd:9.3f} s   CPU")
    print(f"ratio mbd / encodec     {t_mbd / t_codec:9.1f}x")
    if args.full:
        start = time.process_time()
        mbd.tokens_to_wav(codes, seed=0)
        t_full = time.process_time() - start
        print(f"mbd decode (measured)   {t_full:9.3f} s   CPU, projection / measured {t_mbd / t_full:.2f}")
        print(f"ratio mbd / encodec     {t_full / t_codec:9.1f}x (measured)")


if __name__ == "__main__":
    main()
