import Foundation
import Imaging
import TestSupport
import Testing

@Suite struct OverlayTests {
    @Test func blendsFillsAndDrawsOpaqueOutlines() {
        // A 5x5 slice at 50 HU (grey 128 in the KiTS window) with a 3x3 kidney in the middle.
        let ct = Plane<Float>(width: 5, height: 5, values: [Float](repeating: 50, count: 25))
        var labels = Plane<UInt8>(width: 5, height: 5, values: [UInt8](repeating: 0, count: 25))
        for y in 1...3 { for x in 1...3 { labels[x, y] = 1 } }
        let style = OverlayStyle()
        let image = style.render(ct: ct, labels: labels)
        let grey = Float((HounsfieldWindow.kits19.scaled(50) * 255).rounded())
        #expect(image[0, 0] == SIMD3(repeating: UInt8(grey)))
        #expect(image[1, 1] == style.colours[.kidney])  // outline
        let red = style.colours[.kidney]!
        let expected = SIMD3<Float>(repeating: grey) * 0.65 + SIMD3<Float>(red) * 0.35
        #expect(image[2, 2] == SIMD3<UInt8>(expected.rounded(.toNearestOrEven)))  // fill
    }

    @Test func encodesAnRGBPNG() throws {
        let image = Plane<SIMD3<UInt8>>(width: 3, height: 2, values: [SIMD3](repeating: SIMD3(1, 2, 3), count: 6))
        let png = [UInt8](try PNGCodec.encode(rgb: image))
        #expect(Array(png.prefix(8)) == PNGCodec.signature)
        // IHDR: width 3, height 2, 8 bits, colour type 2 (RGB).
        #expect(Array(png[16..<26]) == [0, 0, 0, 3, 0, 0, 0, 2, 8, 2])
    }

    @Test func overlaysTheRealKidneyReferenceOnItsCT() throws {
        let ct = try VolumeReader().readCT(from: SharedData.exampleCT).axialStack()
        let labels = try VolumeReader().readLabels(from: SharedData.exampleKidneyReference).axialStack()
        let slice = 80  // both kidneys
        let image = OverlayStyle().render(ct: ct.slice(slice), labels: labels.slice(slice))
        let kidneyPixels = labels.slice(slice).values.filter { $0 == 1 }.count
        let tinted = image.values.filter { Int($0.x) > Int($0.y) + 40 }.count
        #expect(kidneyPixels > 300)
        #expect(tinted == kidneyPixels)
    }
}
