import Foundation

/// A network's layers as JSON-ready values, so that a trainer outside Swift (PyTorch on a GPU,
/// `scripts/gpu/train.py`) builds exactly the graph the engine runs, from the same description.
///
/// Every layer is an object with an `op`: `conv` (with the `ConvSpec`'s fields), `max_pool`,
/// `avg_pool_3x3` (counting the padding), `chain` (`layers` in order), `residual` (ReLU of
/// `main` plus `shortcut`, or plus the input when there is none) and `branches` (`layers` run on
/// one input, concatenated along channels).
extension UNetGraph {
    public var jsonObject: [String: Any] {
        [
            "stages": stages.map(\.jsonObject),
            "center": center.map(\.jsonObject),
            "blocks": blocks.map { ["conv1": $0.conv1.jsonObject, "conv2": $0.conv2.jsonObject] },
            "head": head.jsonObject,
        ]
    }
}

extension Layer {
    public var jsonObject: [String: Any] {
        switch self {
        case let .conv(spec): spec.jsonObject
        case let .maxPool(kernel, stride, padding): ["op": "max_pool", "kernel": kernel, "stride": stride, "padding": padding]
        case .averagePool3x3: ["op": "avg_pool_3x3"]
        case let .chain(layers): ["op": "chain", "layers": layers.map(\.jsonObject)]
        case let .residual(main, shortcut):
            ["op": "residual", "main": main.map(\.jsonObject), "shortcut": shortcut.map { $0.jsonObject as Any } ?? NSNull()]
        case let .branches(layers): ["op": "branches", "layers": layers.map(\.jsonObject)]
        }
    }
}

extension ConvSpec {
    public var jsonObject: [String: Any] {
        [
            "op": "conv", "name": name, "batch_norm": batchNorm.map { $0 as Any } ?? NSNull(), "epsilon": epsilon,
            "in": inChannels, "out": outChannels, "kernel": [kernel.height, kernel.width], "stride": [stride.height, stride.width],
            "padding": [padding.height, padding.width], "bias": bias, "relu": relu,
        ]
    }
}
