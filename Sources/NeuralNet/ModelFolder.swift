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
        /// Slices are resampled to width x height before inference.
        public var inputSize: [Int]
        public var denoise: Denoising

        public init(huWindow: [Float] = [-125, 225], inputSize: [Int] = [256, 256], denoise: Denoising = .none) {
            self.huWindow = huWindow
            self.inputSize = inputSize
            self.denoise = denoise
        }

        enum CodingKeys: String, CodingKey {
            case huWindow = "hu_window"
            case inputSize = "input_size"
            case denoise
        }

        public var window: HounsfieldWindow { HounsfieldWindow(lower: huWindow[0], upper: huWindow[1]) }

        /// An axial slice in Hounsfield units as the model sees it: windowed to [0, 1], resampled
        /// to the input size, denoised. Serving and training both go through here.
        public func modelInput(_ slice: Plane<Float>) -> Plane<Float> {
            var plane = slice
            window.apply(to: &plane.values)
            return denoise.apply(to: resizeBilinear(plane, width: inputSize[0], height: inputSize[1]))
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
        guard architecture.inChannels == 1 else { throw fail("CT models take 1 input channel, not \(architecture.inChannels)") }
        guard architecture.encoderWidth > 0, architecture.encoderWidth <= 4 else { throw fail("encoder_width must be in (0, 4]") }
        guard architecture.decoderChannels.count == 5, architecture.decoderChannels.allSatisfy({ $0 > 0 }) else {
            throw fail("decoder_channels must be five positive counts")
        }
        let window = preprocessing.huWindow
        guard window.count == 2, window[0] < window[1] else { throw fail("hu_window must be [lower, upper] with lower < upper") }
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
