/// A batch of feature maps in NCHW order: batch, channels, height, width, with width fastest.
public struct Tensor: Sendable, Equatable {
    public var batch: Int
    public var channels: Int
    public var height: Int
    public var width: Int
    public var data: [Float]

    public init(batch: Int, channels: Int, height: Int, width: Int, data: [Float]) {
        precondition(data.count == batch * channels * height * width,
                     "\(data.count) values do not fill \(batch)x\(channels)x\(height)x\(width)")
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
        self.data = data
    }

    public init(zeros batch: Int, channels: Int, height: Int, width: Int) {
        self.init(batch: batch, channels: channels, height: height, width: width,
                  data: [Float](repeating: 0, count: batch * channels * height * width))
    }

    /// A tensor whose values the caller writes, every one, before reading any: no zero fill.
    init(uninitialized batch: Int, channels: Int, height: Int, width: Int) {
        let count = batch * channels * height * width
        self.init(batch: batch, channels: channels, height: height, width: width,
                  data: [Float](unsafeUninitializedCapacity: count) { $1 = count })
    }

    public var shape: [Int] { [batch, channels, height, width] }
    public var planeSize: Int { height * width }
    /// Values in one batch item.
    public var itemSize: Int { channels * height * width }
}
