"""The Wan2.2 video VAE (16x spatial, 4x temporal, 48 latent channels), split in two modules.

`Wan22VAEEncoder` encodes the current frame, the only thing any Fast-WAM policy encodes: the first
latent frame of a causal video VAE is a function of the first pixel frame alone, so the encoder
computes exactly the reference encoder's first chunk (3-frame causal kernels reduce to their last
slice, temporal downsampling is skipped) and refuses longer clips.

`Wan22VAEDecoder` turns latent clips back into frames, one latent frame at a time with causal
caches, as the reference does (9 frames from 3 latents). No policy needs it for its actions; the
released IDM inference decodes its imagined clip at every chunk anyway, so it is there to reproduce
that cost (and to look at the imagined future).

Parameter names follow the released VAE weights file: `encoder.*` and `conv1.*` belong to the
encoder, `decoder.*` and `conv2.*` to the decoder.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from policies.fastwam.config import VAEConfig

CACHE_FRAMES = 2  # input frames a streaming causal convolution carries to the next chunk


class CausalConv3d(nn.Conv3d):
    """3D convolution padded only towards the past in time."""

    def __init__(self, in_dim: int, out_dim: int, kernel, stride=1, padding=0):
        super().__init__(in_dim, out_dim, kernel, stride=stride, padding=0)
        pt, ph, pw = padding if isinstance(padding, tuple) else (padding,) * 3
        self._pad = (pw, pw, ph, ph, 2 * pt, 0)

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        """With `cache`, x continues a clip: the previous call's last input frames stand in for the
        zero padding (the streaming form the reference decoder uses)."""
        if cache is not None and self._pad[4] > 0:
            prev = cache.get(self)
            inp = x if prev is None else torch.cat([prev, x], dim=2)
            front = self._pad[4] - (0 if prev is None else prev.shape[2])
            cache[self] = inp[:, :, -CACHE_FRAMES:]
            return super().forward(F.pad(inp, (*self._pad[:4], front, 0)))
        if x.shape[2] == 1 and self.stride[0] == 1:
            # Only the newest kernel slice meets real data; the rest multiplies zero padding.
            w = self.weight[:, :, -1]
            padding = (self._pad[2], self._pad[0])
            return F.conv2d(x[:, :, 0], w, self.bias, stride=self.stride[1:], padding=padding).unsqueeze(2)
        return super().forward(F.pad(x, self._pad))


class ChannelRMSNorm(nn.Module):
    """L2-normalise over channels (dim 1), rescale by sqrt(C) and a learned gain."""

    def __init__(self, dim: int, images: bool):
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones((dim, 1, 1) if images else (dim, 1, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * self.scale * self.gamma


class ResidualBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        # Indices 1, 4, 5 (activations, dropout) hold no weights; the layout keeps the file's key names.
        self.residual = nn.Sequential(
            ChannelRMSNorm(in_dim, images=False),
            nn.SiLU(),
            CausalConv3d(in_dim, out_dim, 3, padding=1),
            ChannelRMSNorm(out_dim, images=False),
            nn.SiLU(),
            nn.Dropout(0.0),
            CausalConv3d(out_dim, out_dim, 3, padding=1),
        )
        self.shortcut = CausalConv3d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        h = x
        for layer in self.residual:
            h = layer(h, cache) if isinstance(layer, CausalConv3d) else layer(h)
        return h + self.shortcut(x)


class Downsample(nn.Module):
    """Spatial halving per frame; `time_conv` (temporal halving) exists for the weights but is not
    applied to a first chunk."""

    def __init__(self, dim: int, temporal: bool):
        super().__init__()
        self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
        if temporal:
            self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = self.resample(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.view(b, t, c, y.shape[-2], y.shape[-1]).transpose(1, 2)


def average_downsample(x: torch.Tensor, out_dim: int, factor_t: int, factor_s: int) -> torch.Tensor:
    """Parameter-free shortcut: fold (t, h, w) neighbourhoods into channels and average groups."""
    pad_t = (factor_t - x.shape[2] % factor_t) % factor_t
    x = F.pad(x, (0, 0, 0, 0, pad_t, 0))
    b, c, t, h, w = x.shape
    x = x.view(b, c, t // factor_t, factor_t, h // factor_s, factor_s, w // factor_s, factor_s)
    x = x.permute(0, 1, 3, 5, 7, 2, 4, 6).reshape(b, c * factor_t * factor_s * factor_s, t // factor_t, h // factor_s, w // factor_s)
    group = x.shape[1] // out_dim
    return x.view(b, out_dim, group, *x.shape[2:]).mean(dim=2)


class DownBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, num_res_blocks: int, temporal: bool, spatial: bool):
        super().__init__()
        self.out_dim = out_dim
        self.factor_t = 2 if temporal else 1
        self.factor_s = 2 if spatial else 1
        layers: list[nn.Module] = []
        for _ in range(num_res_blocks):
            layers.append(ResidualBlock(in_dim, out_dim))
            in_dim = out_dim
        if spatial:
            layers.append(Downsample(out_dim, temporal))
        self.downsamples = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsamples(x) + average_downsample(x, self.out_dim, self.factor_t, self.factor_s)


class AttentionBlock(nn.Module):
    """Single-head self-attention over the pixels of each frame."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = ChannelRMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        qkv = self.to_qkv(self.norm(frames)).reshape(b * t, 1, c * 3, h * w).transpose(2, 3)
        q, k, v = qkv.chunk(3, dim=-1)
        out = F.scaled_dot_product_attention(q, k, v).squeeze(1).transpose(1, 2).reshape(b * t, c, h, w)
        out = self.proj(out)
        return x + out.view(b, t, c, h, w).transpose(1, 2)


class Encoder3d(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        dims = [config.base_dim * m for m in (1, *config.dim_mult)]
        in_channels = 3 * config.pixel_patch**2
        self.conv1 = CausalConv3d(in_channels, dims[0], 3, padding=1)
        blocks = []
        last = len(config.dim_mult) - 1
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            temporal = bool(config.temporal_downsample[i]) if i < len(config.temporal_downsample) else False
            blocks.append(DownBlock(a, b, config.num_res_blocks, temporal=temporal, spatial=i != last))
        self.downsamples = nn.Sequential(*blocks)
        top = dims[-1]
        self.middle = nn.Sequential(ResidualBlock(top, top), AttentionBlock(top), ResidualBlock(top, top))
        self.head = nn.Sequential(
            ChannelRMSNorm(top, images=False), nn.SiLU(), CausalConv3d(top, config.z_dim * 2, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.middle(self.downsamples(self.conv1(x))))


def pixel_patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C*p*p, T, H/p, W/p); channel index = c*p*p + col_offset*p + row_offset."""
    b, c, t, h, w = x.shape
    x = x.view(b, c, t, h // p, p, w // p, p)
    return x.permute(0, 1, 6, 4, 2, 3, 5).reshape(b, c * p * p, t, h // p, w // p)


class Wan22VAEEncoder(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.encoder = Encoder3d(config)
        self.conv1 = CausalConv3d(config.z_dim * 2, config.z_dim * 2, 1)

    def encode_frame(self, image: torch.Tensor) -> torch.Tensor:
        """image (B, 3, H, W) in [-1, 1] -> normalised latent (B, z_dim, 1, H/16, W/16)."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected (B, 3, H, W) images, got {tuple(image.shape)}")
        factor = self.config.spatial_factor
        if image.shape[2] % factor or image.shape[3] % factor:
            raise ValueError(f"image size {tuple(image.shape[2:])} must be a multiple of {factor}")
        x = pixel_patchify(image.unsqueeze(2), self.config.pixel_patch)
        mu = self.conv1(self.encoder(x))[:, : self.config.z_dim]
        # Built per call rather than held as buffers, so the module can be created on the meta device
        # and filled from a weights file. The reciprocal is taken in float32 first, as the reference does.
        mean = torch.tensor(self.config.latent_mean, device=mu.device).view(1, -1, 1, 1, 1)
        inv_std = (1.0 / torch.tensor(self.config.latent_std, device=mu.device)).view(1, -1, 1, 1, 1)
        return (mu - mean.to(mu.dtype)) * inv_std.to(mu.dtype)


def pixel_unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """The inverse of `pixel_patchify`."""
    b, cpp, t, h, w = x.shape
    c = cpp // (p * p)
    x = x.view(b, c, p, p, t, h, w)  # (c, col_offset, row_offset)
    return x.permute(0, 1, 4, 5, 3, 6, 2).reshape(b, c, t, h * p, w * p)


class Upsample(nn.Module):
    """Spatial doubling per frame; with `time_conv`, temporal doubling too, except on a clip's first
    chunk (which is how 1 + 4k frames come out of 1 + k latents)."""

    def __init__(self, dim: int, temporal: bool):
        super().__init__()
        self.dim = dim
        self.resample = nn.Sequential(nn.Identity(), nn.Conv2d(dim, dim, 3, padding=1))  # index 0: the upsampler
        if temporal:
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))

    def forward(self, x: torch.Tensor, cache: dict) -> torch.Tensor:
        if hasattr(self, "time_conv"):
            prev = cache.get(self)
            if prev is None:
                # First chunk: no temporal doubling. Later chunks see zero frames in its place.
                cache[self] = torch.zeros_like(x[:, :, :1]).repeat(1, 1, CACHE_FRAMES, 1, 1)
            else:
                inp = torch.cat([prev, x], dim=2)
                cache[self] = inp[:, :, -CACHE_FRAMES:]
                y = F.conv3d(inp, self.time_conv.weight, self.time_conv.bias)
                b, _, t, h, w = y.shape
                y = y.view(b, 2, self.dim, t, h, w)
                x = torch.stack((y[:, 0], y[:, 1]), dim=3).reshape(b, self.dim, 2 * t, h, w)
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        frames = F.interpolate(frames.float(), scale_factor=2.0, mode="nearest-exact").to(x.dtype)
        y = self.resample[1](frames)
        return y.view(b, t, c, 2 * h, 2 * w).transpose(1, 2)


def duplicate_upsample(x: torch.Tensor, out_dim: int, factor_t: int, factor_s: int, first_chunk: bool) -> torch.Tensor:
    """Parameter-free shortcut of an up block: spread channels over (t, h, w) neighbourhoods."""
    b, c, t, h, w = x.shape
    repeats = out_dim * factor_t * factor_s * factor_s // c
    x = x.repeat_interleave(repeats, dim=1).view(b, out_dim, factor_t, factor_s, factor_s, t, h, w)
    x = x.permute(0, 1, 5, 2, 6, 3, 7, 4).reshape(b, out_dim, t * factor_t, h * factor_s, w * factor_s)
    return x[:, :, factor_t - 1 :] if first_chunk else x


class UpBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, num_res_blocks: int, temporal: bool, spatial: bool):
        super().__init__()
        self.out_dim = out_dim
        self.factor_t = 2 if temporal else 1
        self.spatial = spatial
        layers: list[nn.Module] = []
        for _ in range(num_res_blocks):
            layers.append(ResidualBlock(in_dim, out_dim))
            in_dim = out_dim
        if spatial:
            layers.append(Upsample(out_dim, temporal))
        self.upsamples = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, cache: dict, first_chunk: bool) -> torch.Tensor:
        h = x
        for layer in self.upsamples:
            h = layer(h, cache)
        if self.spatial:
            h = h + duplicate_upsample(x, self.out_dim, self.factor_t, 2, first_chunk)
        return h


class Decoder3d(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        mult = config.dim_mult
        dims = [config.decoder_base_dim * m for m in (mult[-1], *reversed(mult))]
        upsample_t = tuple(reversed(config.temporal_downsample))
        self.conv1 = CausalConv3d(config.z_dim, dims[0], 3, padding=1)
        self.middle = nn.Sequential(ResidualBlock(dims[0], dims[0]), AttentionBlock(dims[0]), ResidualBlock(dims[0], dims[0]))
        last = len(mult) - 1
        self.upsamples = nn.Sequential(*(
            UpBlock(a, b, config.num_res_blocks + 1, temporal=bool(upsample_t[i]) if i < len(upsample_t) else False, spatial=i != last)
            for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))
        ))
        self.head = nn.Sequential(
            ChannelRMSNorm(dims[-1], images=False), nn.SiLU(), CausalConv3d(dims[-1], 3 * config.pixel_patch**2, 3, padding=1)
        )

    def forward(self, x: torch.Tensor, cache: dict, first_chunk: bool) -> torch.Tensor:
        x = self.conv1(x, cache)
        for layer in self.middle:
            x = layer(x, cache) if isinstance(layer, ResidualBlock) else layer(x)
        for block in self.upsamples:
            x = block(x, cache, first_chunk)
        for layer in self.head:
            x = layer(x, cache) if isinstance(layer, CausalConv3d) else layer(x)
        return x


class Wan22VAEDecoder(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.conv2 = CausalConv3d(config.z_dim, config.z_dim, 1)
        self.decoder = Decoder3d(config)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B, z, T, h, w) -> frames (B, 3, 1 + 4(T-1), 16h, 16w) in [-1, 1]."""
        mean = torch.tensor(self.config.latent_mean, device=latents.device).view(1, -1, 1, 1, 1).to(latents.dtype)
        inv_std = (1.0 / torch.tensor(self.config.latent_std, device=latents.device)).view(1, -1, 1, 1, 1).to(latents.dtype)
        x = self.conv2(latents / inv_std + mean)
        cache: dict = {}
        chunks = [self.decoder(x[:, :, i : i + 1], cache, first_chunk=i == 0) for i in range(x.shape[2])]
        return pixel_unpatchify(torch.cat(chunks, dim=2), self.config.pixel_patch).clamp(-1, 1)
