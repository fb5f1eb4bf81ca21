import Foundation

// The engine's other operators: pooling, nearest resize, concatenation, addition and softmax,
// each split over the compute threads by plane.

/// Runs `body` over the planes (batch item, channel) of `input` and of a new tensor with the same
/// planes at `height` x `width`, split between the compute threads. `body` gets the range of
/// planes, then base pointers to the input's values and the output's.
private func mapPlanes(_ input: Tensor, height: Int, width: Int,
                       _ body: (Range<Int>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
    var output = Tensor(uninitialized: input.batch, channels: input.channels, height: height, width: width)
    input.data.withUnsafeBufferPointer { source in
        output.data.withUnsafeMutableBufferPointer { destination in
            ComputeThreads.parallelFor(input.batch * input.channels) { planes in
                body(planes, source.baseAddress!, destination.baseAddress!)
            }
        }
    }
    return output
}

/// Max pooling with PyTorch's floor rule for the output size; padding never wins the max.
public func maxPool2d(_ input: Tensor, kernel: Int, stride: Int, padding: Int = 0) -> Tensor {
    let (height, width) = (input.height, input.width)
    let outHeight = (height + 2 * padding - kernel) / stride + 1
    let outWidth = (width + 2 * padding - kernel) / stride + 1
    return mapPlanes(input, height: outHeight, width: outWidth) { planes, source, destination in
        for plane in planes {
            let image = source + plane * height * width
            var pooled = destination + plane * outHeight * outWidth
            for oy in 0..<outHeight {
                let rows = max(oy * stride - padding, 0)..<min(oy * stride - padding + kernel, height)
                for ox in 0..<outWidth {
                    let columns = max(ox * stride - padding, 0)..<min(ox * stride - padding + kernel, width)
                    var best = -Float.infinity
                    for iy in rows {
                        for ix in columns { best = max(best, image[iy * width + ix]) }
                    }
                    pooled[ox] = best
                }
                pooled += outWidth
            }
        }
    }
}

/// 3x3 average pooling, stride 1, padding 1, counting the padding (always divides by 9), as
/// timm's inception_v3 does through `F.avg_pool2d` defaults. Summed separably: the three rows
/// around each output row, then three neighbours along it.
public func averagePool3x3(_ input: Tensor) -> Tensor {
    let (height, width) = (input.height, input.width)
    return mapPlanes(input, height: height, width: width) { planes, source, destination in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: width + 2) { sums in
            sums[0] = 0
            sums[width + 1] = 0
            for plane in planes {
                let image = source + plane * height * width
                let pooled = destination + plane * height * width
                for y in 0..<height {
                    let row = image + y * width
                    for x in 0..<width {
                        var sum = row[x]
                        if y > 0 { sum += row[x - width] }
                        if y + 1 < height { sum += row[x + width] }
                        sums[x + 1] = sum
                    }
                    for x in 0..<width { pooled[y * width + x] = (sums[x] + sums[x + 1] + sums[x + 2]) / 9 }
                }
            }
        }
    }
}

/// Nearest-neighbour resize to an exact size with PyTorch's index rule:
/// source = min(floor(destination · (in / out)), in − 1), the ratio computed in Float.
public func resizeNearest(_ input: Tensor, height: Int, width: Int) -> Tensor {
    let rows = nearestIndices(from: input.height, to: height)
    let columns = nearestIndices(from: input.width, to: width)
    let (inHeight, inWidth) = (input.height, input.width)
    return mapPlanes(input, height: height, width: width) { planes, source, destination in
        for plane in planes {
            let image = source + plane * inHeight * inWidth
            let resized = destination + plane * height * width
            for y in 0..<height {
                let row = resized + y * width
                if y > 0 && rows[y] == rows[y - 1] {
                    row.update(from: row - width, count: width)  // the same source row as the last
                    continue
                }
                let line = image + rows[y] * inWidth
                for x in 0..<width { row[x] = line[columns[x]] }
            }
        }
    }
}

/// The source index of each destination index under PyTorch's `nearest` rule.
public func nearestIndices(from inputSize: Int, to outputSize: Int) -> [Int] {
    let scale = Float(inputSize) / Float(outputSize)
    return (0..<outputSize).map { min(Int((Float($0) * scale).rounded(.down)), inputSize - 1) }
}

/// Channel-wise concatenation, first tensor's channels first.
public func concatenateChannels(_ tensors: [Tensor]) -> Tensor {
    let first = tensors[0]
    precondition(tensors.allSatisfy { $0.batch == first.batch && $0.height == first.height && $0.width == first.width },
                 "concatenated tensors must share batch and spatial size")
    var output = Tensor(uninitialized: first.batch, channels: tensors.reduce(0) { $0 + $1.channels }, height: first.height, width: first.width)
    let outputItemSize = output.itemSize
    output.data.withUnsafeMutableBufferPointer { destination in
        var offset = 0  // where this tensor's channels start in each item
        for tensor in tensors {
            tensor.data.withUnsafeBufferPointer { source in
                ComputeThreads.parallelFor(tensor.batch) { items in
                    for item in items {
                        (destination.baseAddress! + item * outputItemSize + offset)
                            .update(from: source.baseAddress! + item * tensor.itemSize, count: tensor.itemSize)
                    }
                }
            }
            offset += tensor.itemSize
        }
    }
    return output
}

/// Element-wise sum, optionally followed by ReLU (a residual connection).
public func add(_ lhs: Tensor, _ rhs: Tensor, relu: Bool = false) -> Tensor {
    precondition(lhs.shape == rhs.shape, "added tensors must have one shape")
    var sum = Tensor(uninitialized: lhs.batch, channels: lhs.channels, height: lhs.height, width: lhs.width)
    lhs.data.withUnsafeBufferPointer { lhs in
        rhs.data.withUnsafeBufferPointer { rhs in
            sum.data.withUnsafeMutableBufferPointer { sum in
                ComputeThreads.parallelFor(sum.count) { range in
                    for index in range {
                        let value = lhs[index] + rhs[index]
                        sum[index] = relu ? max(value, 0) : value
                    }
                }
            }
        }
    }
    return sum
}

/// Softmax over the channels at every pixel.
public func softmaxChannels(_ input: Tensor) -> Tensor {
    var output = input
    let (channels, planeSize) = (input.channels, input.planeSize)
    output.data.withUnsafeMutableBufferPointer { values in
        let base = values.baseAddress!
        ComputeThreads.parallelFor(input.batch * planeSize) { pixels in
            for pixel in pixels {
                let first = base + (pixel / planeSize) * channels * planeSize + pixel % planeSize
                var largest = -Float.infinity
                for channel in 0..<channels { largest = max(largest, first[channel * planeSize]) }
                var total: Float = 0
                for channel in 0..<channels {
                    let value = expf(first[channel * planeSize] - largest)
                    first[channel * planeSize] = value
                    total += value
                }
                for channel in 0..<channels { first[channel * planeSize] /= total }
            }
        }
    }
    return output
}
