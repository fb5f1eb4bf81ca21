"""kidneyseg's U-Nets in PyTorch, built from the graph that `kidneyseg export-training` writes.

The graph is the engine's own description of the network (Sources/NeuralNet/Layer.swift), so
this file holds no architecture: it interprets `conv`, `max_pool`, `avg_pool_3x3`, `chain`,
`residual` and `branches` exactly as the engine runs them, and names every tensor as the
engine's weights files do (smp's state-dict names).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv(nn.Module):
    """A conv, then BatchNorm and ReLU when the spec asks for them."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self.conv = nn.Conv2d(spec["in"], spec["out"], tuple(spec["kernel"]), tuple(spec["stride"]),
                              tuple(spec["padding"]), bias=spec["bias"])
        self.norm = nn.BatchNorm2d(spec["out"], eps=spec["epsilon"]) if spec["batch_norm"] else None

    def forward(self, x):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return F.relu(x) if self.spec["relu"] else x

    def named_state(self):
        """(engine name, tensor) for every tensor the engine's weights file holds."""
        name, norm = self.spec["name"], self.spec["batch_norm"]
        yield f"{name}.weight", self.conv.weight
        if self.conv.bias is not None:
            yield f"{name}.bias", self.conv.bias
        if self.norm is not None:
            yield f"{norm}.weight", self.norm.weight
            yield f"{norm}.bias", self.norm.bias
            yield f"{norm}.running_mean", self.norm.running_mean
            yield f"{norm}.running_var", self.norm.running_var


class Layer(nn.Module):
    """One layer of the graph and everything inside it."""

    def __init__(self, description):
        super().__init__()
        self.op = description["op"]
        self.description = description
        if self.op == "conv":
            self.conv = Conv(description)
        elif self.op in ("chain", "branches"):
            self.layers = nn.ModuleList(Layer(d) for d in description["layers"])
        elif self.op == "residual":
            self.layers = nn.ModuleList(Layer(d) for d in description["main"])
            shortcut = description["shortcut"]
            self.shortcut = Conv(shortcut) if shortcut else None

    def forward(self, x):
        if self.op == "conv":
            return self.conv(x)
        if self.op == "max_pool":
            d = self.description
            return F.max_pool2d(x, d["kernel"], d["stride"], d["padding"])
        if self.op == "avg_pool_3x3":
            return F.avg_pool2d(x, 3, 1, 1, count_include_pad=True)
        if self.op == "chain":
            for layer in self.layers:
                x = layer(x)
            return x
        if self.op == "branches":
            return torch.cat([layer(x) for layer in self.layers], dim=1)
        if self.op == "residual":
            identity = self.shortcut(x) if self.shortcut is not None else x
            for layer in self.layers:
                x = layer(x)
            return F.relu(x + identity)
        raise ValueError(f"unknown layer {self.op}")


def chain(descriptions):
    return Layer({"op": "chain", "layers": descriptions})


class UNet(nn.Module):
    """smp's Unet as the engine runs it: encoder stages give the features, the decoder resizes
    (nearest) to each shallower feature, concatenates it (none after the shallowest) and applies
    two convs; a 3x3 conv head gives the logits."""

    def __init__(self, graph):
        super().__init__()
        self.stages = nn.ModuleList(Layer(stage) for stage in graph["stages"])
        self.center = chain(graph["center"])
        self.blocks = nn.ModuleList(chain([b["conv1"], b["conv2"]]) for b in graph["blocks"])
        self.head = Conv(graph["head"])

    def forward(self, x):
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        sizes = [tuple(f.shape[-2:]) for f in reversed(features)][1:]
        x = self.center(features[-1])
        for index, block in enumerate(self.blocks):
            x = F.interpolate(x, size=sizes[index], mode="nearest")
            skip = len(features) - 2 - index
            if skip > 0:
                x = torch.cat([x, features[skip]], dim=1)
            x = block(x)
        return self.head(x)

    def engine_state(self):
        """The engine's weights-file tensors by name, in the order the network runs them."""
        state = {}
        for module in self.modules():
            if isinstance(module, Conv):
                for name, tensor in module.named_state():
                    state[name] = tensor
        return state

    def load_engine_state(self, tensors):
        """Copies every tensor from a weights file; names and shapes must match exactly."""
        state = self.engine_state()
        missing, unexpected = set(state) - set(tensors), set(tensors) - set(state)
        if missing or unexpected:
            raise ValueError(f"weights do not fit the graph: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
        with torch.no_grad():
            for name, tensor in state.items():
                if tuple(tensors[name].shape) != tuple(tensor.shape):
                    raise ValueError(f"{name}: {tuple(tensors[name].shape)} in the file, {tuple(tensor.shape)} in the graph")
                tensor.copy_(tensors[name].to(tensor.dtype))
