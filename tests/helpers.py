"""Checks shared by the backbone test files."""

import torch


def assert_causal_with_streams(model, token_dim: int, length: int, cut_points, seed: int = 0):
    """Outputs at or before t never change when tokens after t do, later ones do; the last residual
    stream through the final norm equals the output. Returns the input and output for further checks."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, length, token_dim, generator=gen)
    y = model(x)
    assert y.shape == (2, length, 1)
    for t in cut_points:
        x2 = x.clone()
        x2[:, t + 1:] = torch.randn(2, length - 1 - t, token_dim, generator=gen)
        y2 = model(x2)
        assert torch.allclose(y2[:, : t + 1], y[:, : t + 1], atol=1e-6, rtol=0), t
        assert not torch.allclose(y2[:, t + 1:], y[:, t + 1:]), t
    out, streams = model.backbone(model.read_in(x), output_hidden_states=True)
    assert torch.allclose(model.backbone.final_norm(streams[-1]), out, atol=1e-6)
    return x, y, out, streams
