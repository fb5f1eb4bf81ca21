import Foundation
internal import CCompute
import COpenBLAS

/// 2-D convolution with any kernel, stride and zero padding, as PyTorch's `nn.Conv2d` (no groups
/// or dilation), with an optional fused ReLU. BatchNorm is folded into `weights` and `bias` at
/// load time. It runs as im2col plus one SGEMM per batch item, or a plain SGEMM for 1x1 stride-1.
public struct Conv2d: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: (height: Int, width: Int)
    public let stride: (height: Int, width: Int)
    public let padding: (height: Int, width: Int)
    /// Row-major [outChannels][inChannels · kernel height · kernel width], PyTorch's layout.
    public let weights: [Float]
    public let bias: [Float]
    public var relu: Bool
    /// For 3x3 stride-1 convs: the weights in the Winograd domain, [36][outChannels][inChannels].
    let winogradWeights: [Float]?

    public init(inChannels: Int, outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                weights: [Float], bias: [Float]? = nil, relu: Bool = false) {
        precondition(weights.count == outChannels * inChannels * kernel.0 * kernel.1, "weights do not match the conv's shape")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.weights = weights
        self.bias = bias ?? [Float](repeating: 0, count: outChannels)
        self.relu = relu
        let winograd = kernel == (3, 3) && stride == (1, 1) && padding.0 == padding.1 && inChannels >= Self.winogradMinimumChannels
        winogradWeights = winograd ? [Float](unsafeUninitializedCapacity: 36 * outChannels * inChannels) { buffer, count in
            kseg_winograd_weights(weights, Int32(outChannels), Int32(inChannels), buffer.baseAddress)
            count = 36 * outChannels * inChannels
        } : nil
    }

    /// Whether a Winograd conv runs row of tiles by row of tiles, each row's transforms and 36
    /// small GEMMs done while its data sit in the core's cache, rather than as 36 GEMMs over every
    /// tile of the batch. Row by row re-reads all the transformed weights for every row, which
    /// pays while a row has enough tiles to use them on; measured on the three full-size U-Nets,
    /// the crossing lies near 2,048 weights (channel pairs) per tile across.
    static func runsByRows(inChannels: Int, outChannels: Int, tilesAcross: Int) -> Bool {
        tilesAcross >= 8 && inChannels * outChannels <= 2048 * tilesAcross
    }

    /// A 1x1 stride-1 unpadded conv: a plain GEMM over the image's pixels, with nothing to lower.
    public var isPointwise: Bool { kernel == (1, 1) && stride == (1, 1) && padding == (0, 0) }

    /// Below this many input channels im2col is as fast and Winograd's transforms do not pay.
    static let winogradMinimumChannels = 8

    /// Multiply-accumulates for one batch item of this input size.
    public func multiplyAccumulates(height: Int, width: Int) -> Int {
        let (outHeight, outWidth) = outputSize(height: height, width: width)
        return outChannels * outHeight * outWidth * inChannels * kernel.height * kernel.width
    }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding.height - kernel.height) / stride.height + 1,
         (width + 2 * padding.width - kernel.width) / stride.width + 1)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor { run(input, adding: nil) }

    /// ReLU(conv(input) + shortcut), a ResNet block's last conv (one without its own ReLU) with
    /// the shortcut added as each block of the product is finished, rather than in a pass of its own.
    public func residual(_ input: Tensor, adding shortcut: Tensor) -> Tensor {
        precondition(!relu, "a residual conv applies its ReLU after the sum")
        return run(input, adding: shortcut)
    }

    private func run(_ input: Tensor, adding shortcut: Tensor?) -> Tensor {
        precondition(input.channels == inChannels, "conv expects \(inChannels) channels, got \(input.channels)")
        let work = input.batch * multiplyAccumulates(height: input.height, width: input.width)
        WorkCounter.current?.add(work)
        return LayerProfile.measure("conv \(kernel.height)x\(kernel.width)/\(stride.height) \(inChannels)→\(outChannels) \(input.height)x\(input.width)"
                                    + (shortcut == nil ? "" : " +shortcut"), method: method(width: input.width), multiplyAccumulates: work) {
            guard let winogradWeights else { return lowered(input, adding: shortcut) }
            let output = winograd(input, transformedWeights: winogradWeights)
            return shortcut.map { add(output, $0, relu: true) } ?? output
        }
    }

    /// How this conv runs on images `width` pixels wide: Winograd over the whole batch or row
    /// by row of tiles, a plain GEMM (1x1 stride 1), or im2col + GEMM.
    public func method(width: Int) -> String {
        if winogradWeights != nil {
            let tilesAcross = (outputSize(height: 1, width: width).width + 3) / 4
            return Self.runsByRows(inChannels: inChannels, outChannels: outChannels, tilesAcross: tilesAcross) ? "winograd by rows" : "winograd"
        }
        return isPointwise ? "gemm" : "im2col"
    }

    /// im2col + GEMM, or a plain GEMM for 1x1 stride 1, with bias, the shortcut and ReLU applied
    /// to each block of the product while it is in cache.
    private func lowered(_ input: Tensor, adding shortcut: Tensor?) -> Tensor {
        let (outHeight, outWidth) = outputSize(height: input.height, width: input.width)
        var output = Tensor(uninitialized: input.batch, channels: outChannels, height: outHeight, width: outWidth)
        precondition(shortcut.map { $0.shape == output.shape } ?? true, "the shortcut must have the conv's output shape")
        let rows = inChannels * kernel.height * kernel.width
        let columns = outHeight * outWidth
        // Images with few output pixels share one GEMM whose columns are every pixel of every
        // image: the weights are packed once and the GEMM is wide; its products are finished on
        // their way into the output. Large images each get their own GEMM, written and finished
        // in place in the output.
        let group = columns < 4096 ? input.batch : 1
        let groupColumns = group * columns
        let outputItemSize = output.itemSize
        let workspace = Workspace.current
        let matrix = isPointwise && group == 1 ? nil : workspace.buffer(.lowered, count: rows * groupColumns)
        let products = group == 1 ? nil : workspace.buffer(.products, count: outChannels * groupColumns)
        withPointer(to: shortcut) { shortcut in
        input.data.withUnsafeBufferPointer { source in
            output.data.withUnsafeMutableBufferPointer { destination in
                for first in Swift.stride(from: 0, to: input.batch, by: group) {
                    let images = source.baseAddress! + first * input.itemSize
                    let shortcutImages = shortcut.map { $0 + first * outputItemSize }
                    guard let matrix else {
                        multiply(images, rows: rows, columns: columns, into: destination.baseAddress! + first * outputItemSize,
                                 finishingWith: shortcutImages)
                        continue
                    }
                    ComputeThreads.parallelFor(inChannels) { channels in
                        for item in 0..<group {
                            let image = images + item * input.itemSize
                            let target = matrix + item * columns
                            if isPointwise {
                                for channel in channels {
                                    (target + channel * groupColumns).update(from: image + channel * columns, count: columns)
                                }
                            } else {
                                im2col(image, channels: channels, height: input.height, width: input.width, into: target, rowStride: groupColumns)
                            }
                        }
                    }
                    guard let products else {
                        multiply(matrix, rows: rows, columns: columns, into: destination.baseAddress! + first * outputItemSize,
                                 finishingWith: shortcutImages)
                        continue
                    }
                    multiply(matrix, rows: rows, columns: groupColumns, into: products, finishingWith: nil, finishing: false)
                    ComputeThreads.parallelFor(outChannels) { channels in
                        for item in 0..<group {
                            finish(products + item * columns, stride: groupColumns, into: destination.baseAddress! + (first + item) * outputItemSize,
                                   adding: shortcutImages.map { $0 + item * outputItemSize }, channels: channels, columns: 0..<columns, planeSize: columns)
                        }
                    }
                }
            }
        }
        }
        return output
    }

    /// Winograd F(4x4, 3x3): transform the input tiles of the whole batch, run 36 GEMMs whose
    /// columns are every tile of every image, and transform the products back.
    private func winograd(_ input: Tensor, transformedWeights: [Float]) -> Tensor {
        let (outHeight, outWidth) = outputSize(height: input.height, width: input.width)
        let (tilesY, tilesX) = ((outHeight + 3) / 4, (outWidth + 3) / 4)
        let tiles = tilesY * tilesX * input.batch
        var output = Tensor(uninitialized: input.batch, channels: outChannels, height: outHeight, width: outWidth)
        if Self.runsByRows(inChannels: inChannels, outChannels: outChannels, tilesAcross: tilesX) {
            input.data.withUnsafeBufferPointer { source in
                output.data.withUnsafeMutableBufferPointer { destination in
                    transformedWeights.withUnsafeBufferPointer { u in
                        ComputeThreads.parallelFor(input.batch * tilesY) { rows in
                            kseg_winograd_rows(source.baseAddress!, Int32(inChannels), Int32(input.height), Int32(input.width), Int32(padding.height),
                                               u.baseAddress!, Int32(outChannels), bias, relu ? 1 : 0, Int32(rows.lowerBound), Int32(rows.upperBound),
                                               Int32(tilesY), Int32(tilesX), destination.baseAddress!, Int32(outHeight), Int32(outWidth))
                        }
                    }
                }
            }
            return output
        }
        // Both scratch buffers are written whole before they are read.
        let workspace = Workspace.current
        let transformedInput = workspace.buffer(.lowered, count: 36 * inChannels * tiles)
        let products = workspace.buffer(.products, count: 36 * outChannels * tiles)
        let (tilesDown, tilesAcross) = (Int32(tilesY), Int32(tilesX))
        input.data.withUnsafeBufferPointer { source in
            ComputeThreads.parallelFor(inChannels) { range in
                kseg_winograd_input(source.baseAddress!, Int32(input.batch), Int32(inChannels), Int32(input.height), Int32(input.width),
                                    Int32(padding.height), Int32(range.lowerBound), Int32(range.upperBound), tilesDown, tilesAcross,
                                    transformedInput)
            }
        }
        transformedWeights.withUnsafeBufferPointer { u in
            ComputeThreads.parallelFor(36) { positions in
                for position in positions {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(tiles), Int32(inChannels), 1,
                                u.baseAddress! + position * outChannels * inChannels, Int32(inChannels),
                                transformedInput + position * inChannels * tiles, Int32(tiles), 0,
                                products + position * outChannels * tiles, Int32(tiles))
                }
            }
        }
        output.data.withUnsafeMutableBufferPointer { destination in
            ComputeThreads.parallelFor(outChannels) { range in
                kseg_winograd_output(products, Int32(input.batch), Int32(outChannels), Int32(range.lowerBound), Int32(range.upperBound),
                                     tilesDown, tilesAcross, bias, relu ? 1 : 0, destination.baseAddress!, Int32(outHeight), Int32(outWidth))
            }
        }
        return output
    }

    /// result[outChannels][columns] = weights[outChannels][rows] · matrix[rows][columns], then
    /// finished (bias, the shortcut's planes, ReLU) unless `finishing` is false. The threads split
    /// the columns, so each packs only its share of the (usually far larger) matrix, and run it
    /// in blocks small enough to finish in cache; narrow products split the output channels.
    private func multiply(_ matrix: UnsafePointer<Float>, rows: Int, columns: Int, into result: UnsafeMutablePointer<Float>,
                          finishingWith shortcut: UnsafePointer<Float>?, finishing: Bool = true) {
        weights.withUnsafeBufferPointer { weights in
            let weights = weights.baseAddress!
            if columns >= 128 * ComputeThreads.threads {
                // Unfinished products gain nothing from blocks, which would only repack the weights.
                let block = finishing ? max(64, (Self.productBlockFloats / outChannels) / 16 * 16) : columns
                ComputeThreads.parallelFor(columns / 16) { blocks in
                    let part = (blocks.lowerBound * 16)..<(blocks.upperBound == columns / 16 ? columns : blocks.upperBound * 16)
                    for start in Swift.stride(from: part.lowerBound, to: part.upperBound, by: block) {
                        let piece = start..<min(start + block, part.upperBound)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(piece.count), Int32(rows),
                                    1, weights, Int32(rows), matrix + piece.lowerBound, Int32(columns), 0,
                                    result + piece.lowerBound, Int32(columns))
                        if finishing {
                            finish(result, stride: columns, into: result, adding: shortcut, channels: 0..<outChannels, columns: piece, planeSize: columns)
                        }
                    }
                }
            } else {
                ComputeThreads.parallelFor(outChannels) { channels in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(channels.count), Int32(columns), Int32(rows),
                                1, weights + channels.lowerBound * rows, Int32(rows), matrix, Int32(columns), 0,
                                result + channels.lowerBound * columns, Int32(columns))
                    if finishing {
                        finish(result, stride: columns, into: result, adding: shortcut, channels: channels, columns: 0..<columns, planeSize: columns)
                    }
                }
            }
        }
    }

    /// About 256 KB of products per block: finished while they are still in the core's cache.
    static let productBlockFloats = 65_536

    /// output[c][i] = ReLU?(products[c][i] + bias[c]), or ReLU(products[c][i] + bias[c] + shortcut[c][i]), for the given channels
    /// and columns. Products rows are `stride` apart; output and shortcut planes `planeSize`.
    /// Products and output may be the same memory.
    private func finish(_ products: UnsafePointer<Float>, stride: Int, into output: UnsafeMutablePointer<Float>,
                        adding shortcut: UnsafePointer<Float>?, channels: Range<Int>, columns: Range<Int>, planeSize: Int) {
        for channel in channels {
            let (row, plane, shift) = (products + channel * stride, output + channel * planeSize, bias[channel])
            switch (shortcut.map { $0 + channel * planeSize }, relu) {
            case let (added?, _): for index in columns { plane[index] = max(row[index] + shift + added[index], 0) }  // a residual conv
            case (nil, true): for index in columns { plane[index] = max(row[index] + shift, 0) }
            case (nil, false): for index in columns { plane[index] = row[index] + shift }
            }
        }
    }

    /// Lays out every receptive field as a column: row (c, ky, kx), column (oy, ox).
    /// Rows of the matrix are `rowStride` floats apart, so several images can sit side by side.
    /// The trainer's backward pass uses it too, with `col2im` as its adjoint.
    public func im2col(_ image: UnsafePointer<Float>, channels: Range<Int>, height: Int, width: Int,
                        into columns: UnsafeMutablePointer<Float>, rowStride: Int) {
        let (outHeight, outWidth) = outputSize(height: height, width: width)
        var row = channels.lowerBound * kernel.height * kernel.width
        for channel in channels {
            let plane = image + channel * height * width
            for ky in 0..<kernel.height {
                for kx in 0..<kernel.width {
                    // The outputs whose tap ix = ox · stride − padding + kx falls inside the row.
                    let first = min(outWidth, max(0, (padding.width - kx + stride.width - 1) / stride.width))
                    let last = width - 1 + padding.width - kx  // the last ox is last / stride, if last >= 0
                    let end = last < 0 ? first : max(first, min(outWidth, last / stride.width + 1))
                    var target = columns + row * rowStride
                    for oy in 0..<outHeight {
                        let iy = oy * stride.height - padding.height + ky
                        guard iy >= 0 && iy < height else {
                            target.update(repeating: 0, count: outWidth)
                            target += outWidth
                            continue
                        }
                        let line = plane + iy * width - padding.width + kx
                        target.update(repeating: 0, count: first)
                        if stride.width == 1 {
                            (target + first).update(from: line + first, count: end - first)
                        } else {
                            for ox in first..<end { target[ox] = line[ox * stride.width] }
                        }
                        (target + end).update(repeating: 0, count: outWidth - end)
                        target += outWidth
                    }
                    row += 1
                }
            }
        }
    }

}

/// BatchNorm's inference statistics, to be folded into the conv before it.
public struct BatchNorm: Sendable {
    public var weight: [Float]
    public var bias: [Float]
    public var runningMean: [Float]
    public var runningVariance: [Float]
    public var epsilon: Double

    public init(weight: [Float], bias: [Float], runningMean: [Float], runningVariance: [Float], epsilon: Double) {
        self.weight = weight
        self.bias = bias
        self.runningMean = runningMean
        self.runningVariance = runningVariance
        self.epsilon = epsilon
    }
}

extension Conv2d {
    /// This conv followed by `norm`, as one conv: w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β.
    public func folding(_ norm: BatchNorm) -> Conv2d {
        var foldedWeights = weights
        var foldedBias = bias
        let fanIn = weights.count / outChannels
        for channel in 0..<outChannels {
            let scale = Double(norm.weight[channel]) / (Double(norm.runningVariance[channel]) + norm.epsilon).squareRoot()
            for index in (channel * fanIn)..<((channel + 1) * fanIn) { foldedWeights[index] = Float(Double(weights[index]) * scale) }
            foldedBias[channel] = Float((Double(bias[channel]) - Double(norm.runningMean[channel])) * scale + Double(norm.bias[channel]))
        }
        return Conv2d(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding,
                      weights: foldedWeights, bias: foldedBias, relu: relu)
    }
}

/// `body` with a pointer to the tensor's values, or nil for no tensor.
private func withPointer<Result>(to tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> Result) -> Result {
    guard let tensor else { return body(nil) }
    return tensor.data.withUnsafeBufferPointer { body($0.baseAddress!) }
}
