#!/usr/bin/env python3
"""Writes a CLIP vision tower folder (config.json + model.safetensors, CLIPVisionModel's layout)
with random weights of a given shape, default ViT-B/32 (openai/clip-vit-base-patch32's vision half).

Used to measure the cost of `trainer train --vision-encoder` at the real size on machines that do
not have openai's weights; the numbers it gives are speeds, never accuracies.

    python3 scripts/random_clip_vision.py OUT_DIR [--hidden 768 --layers 12 --image 224 --patch 32]
"""
import argparse
import json
import os
import struct

import numpy as np


def tensors(hidden, intermediate, layers, image, patch, rng):
    def normal(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    ones, zeros = (lambda n: np.ones(n, np.float32)), (lambda n: np.zeros(n, np.float32))
    out = {
        "embeddings.class_embedding": normal(hidden),
        "embeddings.patch_embedding.weight": normal(hidden, 3, patch, patch),
        "embeddings.position_embedding.weight": normal((image // patch) ** 2 + 1, hidden),
        "pre_layrnorm.weight": ones(hidden),
        "pre_layrnorm.bias": zeros(hidden),
        "post_layernorm.weight": ones(hidden),
        "post_layernorm.bias": zeros(hidden),
    }
    for i in range(layers):
        p = f"encoder.layers.{i}."
        for norm in ("layer_norm1", "layer_norm2"):
            out[p + norm + ".weight"], out[p + norm + ".bias"] = ones(hidden), zeros(hidden)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out[p + f"self_attn.{proj}.weight"], out[p + f"self_attn.{proj}.bias"] = normal(hidden, hidden), zeros(hidden)
        out[p + "mlp.fc1.weight"], out[p + "mlp.fc1.bias"] = normal(intermediate, hidden), zeros(intermediate)
        out[p + "mlp.fc2.weight"], out[p + "mlp.fc2.bias"] = normal(hidden, intermediate), zeros(hidden)
    return out


def write_safetensors(path, named):
    header, offset = {}, 0
    for name, array in named.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for array in named.values():
            f.write(array.tobytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--patch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    intermediate = 4 * args.hidden
    config = {
        "architectures": ["CLIPVisionModel"], "model_type": "clip_vision_model", "hidden_act": "quick_gelu",
        "hidden_size": args.hidden, "intermediate_size": intermediate, "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads, "num_channels": 3, "image_size": args.image,
        "patch_size": args.patch, "layer_norm_eps": 1e-5, "projection_dim": 512,
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    named = tensors(args.hidden, intermediate, args.layers, args.image, args.patch, np.random.default_rng(args.seed))
    write_safetensors(os.path.join(args.out, "model.safetensors"), named)
    print(f"wrote {args.out}: {sum(a.size for a in named.values()):,} parameters")


if __name__ == "__main__":
    main()
