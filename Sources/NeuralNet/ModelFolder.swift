import Foundation
import Imaging

/// `manifest.json` of a model folder: the architecture, the classes, and the preprocessing the
/// model was trained with. Documented field by field in docs/MODEL_FORMAT.md.
public struct ModelManifest: Codable, Equatable, Sendable {
    public var formatVersion: Int
    public var name: String
    public var description: String?
    public var architecture: UNetArchitecture
    /// Class names in output-channel order.
    public var labels: [String]
    public var preprocessing: Preprocessing

    public struct Preprocessing: Codable, Equatable, Sendable {
        /// Hounsfield units mapped to 0 and 1.
        public var huWindow: [Float]
        /// The model's input grid, width x height pixels: the most it is given at serving time,
        /// and exactly what it is given in training.
        public var inputSize: [Int]
        /// Millimetres per input pixel. Each slice is resampled to it and cropped or padded
        /// around the body, so the kidney has the same size in pixels whatever the scanner's
        /// grid. Nil: the whole slice is stretched onto the input size (older models).
        public var pixelSpacing: Double?
        /// Neighbouring slices as input channels (2.5-D); nil: the slice alone.
        public var context: SliceContext?
        public var denoise: Denoising

        public init(huWindow: [Float] = [-125, 225], inputSize: [Int] = [256, 256], pixelSpacing: Double? = nil,
                    context: SliceContext? = nil, denoise: Denoising = .none) {
            self.huWindow = huWindow
            self.inputSize = inputSize
            self.pixelSpacing = pixelSpacing
            self.context = context
            self.denoise = denoise
        }

        enum CodingKeys: String, CodingKey {
            case huWindow = "hu_window"
            case inputSize = "input_size"
            case pixelSpacing = "pixel_spacing_mm"
            case context
            case denoise
        }

        /// Input channels: the slice, and its neighbours when `context` asks for them.
        public var channels: Int { context?.slices ?? 1 }

        public var window: HounsfieldWindow { HounsfieldWindow(lower: huWindow[0], upper: huWindow[1]) }

        /// Where the model's grid lies on `stack`'s slices. With a pixel spacing it is centred on
        /// the body; in training (`fixedSize`) it is the input size, at serving time it shrinks,
        /// in steps of 32 pixels, to the body and a margin, so that no time goes on air.
        public func frame(for stack: AxialStack<Float>, body: BodyMask, fixedSize: Bool = false) -> SliceFrame {
            let sourceSpacing = SIMD2(stack.spacing.x, stack.spacing.y)
            guard let pixelSpacing else {
                return .stretched(sourceWidth: stack.size.x, sourceHeight: stack.size.y, sourceSpacing: sourceSpacing,
                                  width: inputSize[0], height: inputSize[1])
            }
            let slice = SIMD2(Double(stack.size.x - 1), Double(stack.size.y - 1)) * sourceSpacing
            let (lower, upper) = body.extent ?? (SIMD2(0, 0), slice)
            var size = SIMD2(inputSize[0], inputSize[1])
            if !fixedSize {
                let needed = (upper - lower) / pixelSpacing + 2 * Self.bodyMarginPixels
                size = pointwiseMin(size, SIMD2(Self.roundUp32(needed.x), Self.roundUp32(needed.y)))
            }
            return .centred(on: (lower + upper) / 2, sourceWidth: stack.size.x, sourceHeight: stack.size.y, sourceSpacing: sourceSpacing,
                            spacing: pixelSpacing, width: size.x, height: size.y)
        }

        /// Pixels kept beyond the body on each side when the grid shrinks to it.
        static let bodyMarginPixels = 8.0

        private static func roundUp32(_ pixels: Double) -> Int { max(64, 32 * Int((pixels / 32).rounded(.up))) }

        /// Axial slice `index` of `stack` (Hounsfield units) as the model sees it, one plane per
        /// channel: the slice, or with `context` the planes around it, each windowed to [0, 1],
        /// resampled onto the frame (beyond the slice reads as the window's floor, like air) and
        /// denoised. With `neighbours` false the stack's slices are not neighbours in a body (a
        /// set of separate slices), and every channel is the slice itself. Serving and training
        /// both go through here.
        public func modelInput(_ stack: AxialStack<Float>, slice index: Int, frame: SliceFrame, neighbours: Bool = true) -> [Plane<Float>] {
            let positions = context.map { neighbours ? $0.positions(of: index, count: stack.sliceCount, sliceSpacing: stack.spacing.z)
                                                     : Array(repeating: Double(index), count: $0.slices) } ?? [Double(index)]
            var planes: [Double: Plane<Float>] = [:]
            return positions.map { position in
                if let done = planes[position] { return done }
                var plane = stack.interpolatedSlice(at: position)
                window.apply(to: &plane.values)
                let input = denoise.apply(to: frame.sample(plane, fill: 0))
                planes[position] = input
                return input
            }
        }
    }

    public init(name: String, description: String? = nil, architecture: UNetArchitecture,
                labels: [String] = SegmentationLabel.allCases.map(\.name), preprocessing: Preprocessing = Preprocessing()) {
        formatVersion = 1
        self.name = name
        self.description = description
        self.architecture = architecture
        self.labels = labels
        self.preprocessing = preprocessing
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version"
        case name, description, architecture, labels, preprocessing
    }

    /// Checks what the types cannot: sizes, counts and ranges.
    public func validate() throws {
        func fail(_ reason: String) -> ModelError { .invalidManifest(name: name, reason: reason) }
        guard formatVersion == 1 else { throw fail("format_version \(formatVersion) is not supported (expected 1)") }
        guard labels.count == architecture.classes else { throw fail("\(labels.count) labels for \(architecture.classes) classes") }
        if let context = preprocessing.context {
            guard context.slices >= 3, context.slices % 2 == 1, context.slices <= 9 else { throw fail("context.slices must be odd, from 3 to 9") }
            guard context.spacing > 0, context.spacing <= 20 else { throw fail("context.spacing_mm must be in (0, 20]") }
        }
        guard architecture.inChannels == preprocessing.channels else {
            throw fail("the model takes \(architecture.inChannels) input channels but its preprocessing gives \(preprocessing.channels)")
        }
        guard architecture.encoderWidth > 0, architecture.encoderWidth <= 4 else { throw fail("encoder_width must be in (0, 4]") }
        guard architecture.decoderChannels.count == 5, architecture.decoderChannels.allSatisfy({ $0 > 0 }) else {
            throw fail("decoder_channels must be five positive counts")
        }
        let window = preprocessing.huWindow
        guard window.count == 2, window[0] < window[1] else { throw fail("hu_window must be [lower, upper] with lower < upper") }
        if let spacing = preprocessing.pixelSpacing, !(spacing > 0 && spacing <= 10) {
            throw fail("pixel_spacing_mm must be in (0, 10]")
        }
        let size = preprocessing.inputSize
        guard size.count == 2, size.allSatisfy({ $0 >= 32 && $0 <= 2048 && $0 % 32 == 0 }) else {
            throw fail("input_size must be [width, height], multiples of 32 from 32 to 2048")
        }
    }
}

/// A model folder: `manifest.json` plus `weights.safetensors` in PyTorch state-dict form.
public struct SegmentationModel: Sendable {
    public let manifest: ModelManifest
    public let network: UNet
    public let folder: URL

    public init(folder: URL) throws {
        let manifestURL = folder.appendingPathComponent("manifest.json")
        let manifest: ModelManifest
        do {
            manifest = try JSONDecoder().decode(ModelManifest.self, from: Data(contentsOf: manifestURL))
        } catch let error as DecodingError {
            throw ModelError.invalidManifest(name: folder.lastPathComponent, reason: Self.describe(error))
        } catch {
            throw ModelError.unreadable(path: manifestURL.path, reason: error.localizedDescription)
        }
        try manifest.validate()
        let weights = try SafeTensorsFile(contentsOf: folder.appendingPathComponent("weights.safetensors"))
        if let encoder = weights.metadata["encoder"], encoder != manifest.architecture.encoder.rawValue {
            throw ModelError.invalidManifest(name: manifest.name, reason: "the manifest says \(manifest.architecture.encoder.rawValue) but the weights say \(encoder)")
        }
        self.manifest = manifest
        self.folder = folder
        network = try UNet(architecture: manifest.architecture, weights: weights)
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case let .keyNotFound(key, _): "missing field \(key.stringValue)"
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            (context.codingPath.map(\.stringValue).joined(separator: ".") + ": " + context.debugDescription)
        @unknown default: "\(error)"
        }
    }
}

extension Denoising: Codable {
    /// `{"method": "none" | "median3x3" | "gaussian", "sigma": 1.0}`; sigma only for gaussian.
    enum CodingKeys: String, CodingKey { case method, sigma }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .method) {
        case "none": self = .none
        case "median3x3": self = .median3x3
        case "gaussian":
            let sigma = try container.decode(Float.self, forKey: .sigma)
            guard sigma > 0 else { throw DecodingError.dataCorruptedError(forKey: .sigma, in: container, debugDescription: "sigma must be positive") }
            self = .gaussian(sigma: sigma)
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .method, in: container, debugDescription: "unknown denoising method \(other)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .none: try container.encode("none", forKey: .method)
        case .median3x3: try container.encode("median3x3", forKey: .method)
        case let .gaussian(sigma):
            try container.encode("gaussian", forKey: .method)
            try container.encode(sigma, forKey: .sigma)
        }
    }
}
