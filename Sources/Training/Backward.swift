import COpenBLAS
import Foundation
import NeuralNet

/// Carries the gradient of a step's output back to the gradient of its input, adding the
/// gradients of the step's parameters to them on the way.
public typealias Backward = (Tensor) -> Tensor

/// A conv without BatchNorm. Forward runs on the inference engine's kernels. Backward computes
/// dW += dY · colsᵀ per image; the input's gradient is, at stride 1, the forward conv of dY with
/// the kernels turned 180° and in/out swapped (so Winograd serves it too), and otherwise
/// Wᵀ · dY followed by col2im, im2col's adjoint.
public func convolution(_ input: Tensor, _ spec: ConvSpec, weight: Parameter, bias: Parameter?) -> (Tensor, Backward) {
    let conv = Conv2d(inChannels: spec.inChannels, outChannels: spec.outChannels, kernel: spec.kernel, stride: spec.stride,
                      padding: spec.padding, weights: weight.values, bias: bias?.values)
    let output = conv(input)
    return (output, { outputGradient in
        let (height, width, outChannels) = (input.height, input.width, spec.outChannels)
        let rows = spec.inChannels * spec.kernel.height * spec.kernel.width
        let columns = output.planeSize
        let pointwise = conv.isPointwise
        let transposed = spec.stride == (1, 1) ? transposedConvolution(spec, weights: weight.values) : nil
        var inputGradient = transposed?(outputGradient) ?? Tensor(zeros: input.batch, channels: input.channels, height: height, width: width)
        var weightGradient = [Float](repeating: 0, count: weight.values.count)
        var lowered = [Float](repeating: 0, count: pointwise ? 0 : rows * columns)
        var loweredGradient = [Float](repeating: 0, count: pointwise || transposed != nil ? 0 : rows * columns)
        input.data.withUnsafeBufferPointer { images in
        outputGradient.data.withUnsafeBufferPointer { gradients in
        weight.values.withUnsafeBufferPointer { weights in
        inputGradient.data.withUnsafeMutableBufferPointer { inputGradients in
        lowered.withUnsafeMutableBufferPointer { lowered in
        loweredGradient.withUnsafeMutableBufferPointer { loweredGradient in
        weightGradient.withUnsafeMutableBufferPointer { weightGradient in
            for item in 0..<input.batch {
                let image = images.baseAddress! + item * input.itemSize
                let gradient = gradients.baseAddress! + item * output.itemSize
                let imageGradient = inputGradients.baseAddress! + item * input.itemSize
                if !pointwise {
                    ComputeThreads.parallelFor(spec.inChannels) { channels in
                        conv.im2col(image, channels: channels, height: height, width: width, into: lowered.baseAddress!, rowStride: columns)
                    }
                }
                let columnsOfImage = pointwise ? image : UnsafePointer(lowered.baseAddress!)
                ComputeThreads.parallelFor(outChannels) { channels in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(channels.count), Int32(rows), Int32(columns), 1,
                                gradient + channels.lowerBound * columns, Int32(columns), columnsOfImage, Int32(columns), 1,
                                weightGradient.baseAddress! + channels.lowerBound * rows, Int32(rows))
                }
                guard transposed == nil else { continue }
                let target = pointwise ? imageGradient : loweredGradient.baseAddress!
                ComputeThreads.parallelFor(columns) { range in
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rows), Int32(range.count), Int32(outChannels), 1,
                                weights.baseAddress!, Int32(rows), gradient + range.lowerBound, Int32(columns), 0,
                                target + range.lowerBound, Int32(columns))
                }
                if !pointwise {
                    ComputeThreads.parallelFor(spec.inChannels) { channels in
                        col2im(loweredGradient.baseAddress!, spec, channels: channels, height: height, width: width,
                               into: imageGradient, rowStride: columns)
                    }
                }
            }
        }}}}}}}
        weight.accumulate(weightGradient)
        bias?.accumulate(channelSums(outputGradient))
        return inputGradient
    })
}

/// The stride-1 conv that maps dY to dX: kernels turned 180°, input and output channels swapped,
/// padding k − 1 − p on each axis.
private func transposedConvolution(_ spec: ConvSpec, weights: [Float]) -> Conv2d {
    let (kh, kw) = spec.kernel
    var flipped = [Float](repeating: 0, count: weights.count)
    for out in 0..<spec.outChannels {
        for input in 0..<spec.inChannels {
            for ky in 0..<kh {
                for kx in 0..<kw {
                    flipped[((input * spec.outChannels + out) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx)] = weights[((out * spec.inChannels + input) * kh + ky) * kw + kx]
                }
            }
        }
    }
    return Conv2d(inChannels: spec.outChannels, outChannels: spec.inChannels, kernel: spec.kernel,
                  padding: (kh - 1 - spec.padding.height, kw - 1 - spec.padding.width), weights: flipped)
}

/// im2col's adjoint: adds every column entry back onto the input pixel it was copied from.
private func col2im(_ columns: UnsafePointer<Float>, _ spec: ConvSpec, channels: Range<Int>, height: Int, width: Int,
                    into image: UnsafeMutablePointer<Float>, rowStride: Int) {
    let outHeight = (height + 2 * spec.padding.height - spec.kernel.height) / spec.stride.height + 1
    let outWidth = (width + 2 * spec.padding.width - spec.kernel.width) / spec.stride.width + 1
    var row = channels.lowerBound * spec.kernel.height * spec.kernel.width
    for channel in channels {
        let plane = image + channel * height * width
        for ky in 0..<spec.kernel.height {
            for kx in 0..<spec.kernel.width {
                let source = columns + row * rowStride
                for oy in 0..<outHeight {
                    let iy = oy * spec.stride.height - spec.padding.height + ky
                    guard iy >= 0 && iy < height else { continue }
                    for ox in 0..<outWidth {
                        let ix = ox * spec.stride.width - spec.padding.width + kx
                        if ix >= 0 && ix < width { plane[iy * width + ix] += source[oy * outWidth + ox] }
                    }
                }
                row += 1
            }
        }
    }
}

/// Per channel, the sum over the batch and the pixels.
public func channelSums(_ tensor: Tensor) -> [Float] {
    var sums = [Float](repeating: 0, count: tensor.channels)
    for item in 0..<tensor.batch {
        for channel in 0..<tensor.channels {
            let start = item * tensor.itemSize + channel * tensor.planeSize
            sums[channel] += tensor.data[start..<(start + tensor.planeSize)].reduce(0, +)
        }
    }
    return sums
}

/// BatchNorm, then ReLU when asked. In training mode it normalises with the batch's statistics
/// and moves the running ones towards them; frozen, it uses the running statistics as inference
/// does, and passes the gradient through its fixed affine map. Channels are split over the
/// compute threads.
public func batchNorm(_ input: Tensor, _ state: BatchNormState, training: Bool, relu: Bool) -> (Tensor, Backward) {
    let (channels, plane, batch, itemSize) = (input.channels, input.planeSize, input.batch, input.itemSize)
    let count = Float(batch * plane)
    /// Runs body(channel, values of that channel in one image) for every channel and image, the
    /// channels split over the threads.
    func eachChannel(_ body: (Int, Range<Int>) -> Void) {
        ComputeThreads.parallelFor(channels) { range in
            for channel in range {
                for item in 0..<batch { body(channel, (item * itemSize + channel * plane)..<(item * itemSize + (channel + 1) * plane)) }
            }
        }
    }
    var mean = state.runningMean
    var variance = state.runningVariance
    if training {
        var sums = [Double](repeating: 0, count: channels)
        var squares = [Double](repeating: 0, count: channels)
        input.data.withUnsafeBufferPointer { x in
            sums.withUnsafeMutableBufferPointer { sums in
                squares.withUnsafeMutableBufferPointer { squares in
                    eachChannel { channel, values in
                        var (sum, square): (Float, Float) = (0, 0)
                        for index in values {
                            sum += x[index]
                            square += x[index] * x[index]
                        }
                        sums[channel] += Double(sum)
                        squares[channel] += Double(square)
                    }
                }
            }
        }
        for channel in 0..<channels {
            let batchMean = sums[channel] / Double(count)
            let batchVariance = max(0, squares[channel] / Double(count) - batchMean * batchMean)
            mean[channel] = Float(batchMean)
            variance[channel] = Float(batchVariance)
            let unbiased = Float(batchVariance * Double(count) / Double(max(1, count - 1)))
            state.runningMean[channel] += BatchNormState.momentum * (Float(batchMean) - state.runningMean[channel])
            state.runningVariance[channel] += BatchNormState.momentum * (unbiased - state.runningVariance[channel])
        }
    }
    let inverseDeviation = variance.map { Float(1 / (Double($0) + state.epsilon).squareRoot()) }
    let (gamma, beta) = (state.weight.values, state.bias.values)
    var normalised = input
    var output = input
    input.data.withUnsafeBufferPointer { x in
        normalised.data.withUnsafeMutableBufferPointer { normalised in
            output.data.withUnsafeMutableBufferPointer { output in
                eachChannel { channel, values in
                    let (shift, scale) = (mean[channel], inverseDeviation[channel])
                    for index in values {
                        normalised[index] = (x[index] - shift) * scale
                        let value = gamma[channel] * normalised[index] + beta[channel]
                        output[index] = relu ? max(value, 0) : value
                    }
                }
            }
        }
    }
    return (output, { outputGradient in
        var gradient = outputGradient
        var sums = [Float](repeating: 0, count: channels)
        var products = [Float](repeating: 0, count: channels)
        gradient.data.withUnsafeMutableBufferPointer { gradient in
            output.data.withUnsafeBufferPointer { output in
                normalised.data.withUnsafeBufferPointer { normalised in
                    sums.withUnsafeMutableBufferPointer { sums in
                        products.withUnsafeMutableBufferPointer { products in
                            eachChannel { channel, values in
                                for index in values {
                                    if relu && output[index] <= 0 { gradient[index] = 0 }
                                    sums[channel] += gradient[index]
                                    products[channel] += gradient[index] * normalised[index]
                                }
                            }
                            eachChannel { channel, values in
                                let scale = gamma[channel] * inverseDeviation[channel]
                                let (meanGradient, meanProduct) = (sums[channel] / count, products[channel] / count)
                                for index in values {
                                    gradient[index] = training
                                        ? scale * (gradient[index] - meanGradient - normalised[index] * meanProduct)
                                        : scale * gradient[index]
                                }
                            }
                        }
                    }
                }
            }
        }
        state.weight.accumulate(products)
        state.bias.accumulate(sums)
        return gradient
    })
}

/// Max pooling; the gradient goes to the input that won each window (the first, on ties).
public func maxPool(_ input: Tensor, kernel: Int, stride: Int, padding: Int) -> (Tensor, Backward) {
    let outHeight = (input.height + 2 * padding - kernel) / stride + 1
    let outWidth = (input.width + 2 * padding - kernel) / stride + 1
    var output = Tensor(zeros: input.batch, channels: input.channels, height: outHeight, width: outWidth)
    var winners = [Int](repeating: 0, count: output.data.count)
    for plane in 0..<(input.batch * input.channels) {
        let source = plane * input.planeSize
        for oy in 0..<outHeight {
            for ox in 0..<outWidth {
                var best = -Float.infinity
                var winner = source
                for iy in max(oy * stride - padding, 0)..<min(oy * stride - padding + kernel, input.height) {
                    for ix in max(ox * stride - padding, 0)..<min(ox * stride - padding + kernel, input.width) where input.data[source + iy * input.width + ix] > best {
                        best = input.data[source + iy * input.width + ix]
                        winner = source + iy * input.width + ix
                    }
                }
                let index = (plane * outHeight + oy) * outWidth + ox
                output.data[index] = best
                winners[index] = winner
            }
        }
    }
    return (output, { outputGradient in
        var inputGradient = Tensor(zeros: input.batch, channels: input.channels, height: input.height, width: input.width)
        for (index, winner) in winners.enumerated() { inputGradient.data[winner] += outputGradient.data[index] }
        return inputGradient
    })
}

/// 3x3 average pooling that counts the padding divides every window by 9, so it is its own adjoint.
public func averagePool(_ input: Tensor) -> (Tensor, Backward) {
    (averagePool3x3(input), { averagePool3x3($0) })
}

/// Nearest resize; each output pixel's gradient goes back to the pixel it was copied from.
public func resize(_ input: Tensor, height: Int, width: Int) -> (Tensor, Backward) {
    let rows = nearestIndices(from: input.height, to: height)
    let columns = nearestIndices(from: input.width, to: width)
    return (resizeNearest(input, height: height, width: width), { outputGradient in
        var inputGradient = Tensor(zeros: input.batch, channels: input.channels, height: input.height, width: input.width)
        for plane in 0..<(input.batch * input.channels) {
            for (y, row) in rows.enumerated() {
                for (x, column) in columns.enumerated() {
                    inputGradient.data[plane * input.planeSize + row * input.width + column] += outputGradient.data[(plane * height + y) * width + x]
                }
            }
        }
        return inputGradient
    })
}

/// The channels of `tensor` cut into consecutive groups of `counts` channels: concatenation's adjoint.
public func splitChannels(_ tensor: Tensor, _ counts: [Int]) -> [Tensor] {
    var first = 0
    return counts.map { count in
        defer { first += count }
        var data: [Float] = []
        data.reserveCapacity(tensor.batch * count * tensor.planeSize)
        for item in 0..<tensor.batch {
            let start = item * tensor.itemSize + first * tensor.planeSize
            data += tensor.data[start..<(start + count * tensor.planeSize)]
        }
        return Tensor(batch: tensor.batch, channels: count, height: tensor.height, width: tensor.width, data: data)
    }
}

/// Element-wise sum of two gradients of one tensor.
public func sum(_ lhs: Tensor, _ rhs: Tensor) -> Tensor { add(lhs, rhs) }
