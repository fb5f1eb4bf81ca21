import Foundation
import Imaging
import SegmentationMetrics
import TestSupport
import Testing

@Suite struct MetricsTests {
    /// A row of 20 voxels of 2 mm cubes (0.008 mL each) with `labels` at the given positions.
    func row(_ runs: [(ClosedRange<Int>, UInt8)]) -> [UInt8] {
        var voxels = [UInt8](repeating: 0, count: 20)
        for (range, label) in runs { for x in range { voxels[x] = label } }
        return voxels
    }

    func metrics(_ prediction: [UInt8], _ reference: [UInt8]) -> [SegmentationLabel: ClassMetrics] {
        let rows = evaluate(prediction: prediction, reference: reference, voxelMillilitres: 0.008)
        return Dictionary(uniqueKeysWithValues: rows.map { ($0.label, $0) })
    }

    @Test func aShiftedCopyOverlapsByHand() throws {
        // Kidney at 0...9 in the reference, 2...11 predicted: TP 8, FP 2, FN 2.
        let kidney = try #require(metrics(row([(2...11, 1)]), row([(0...9, 1)]))[.kidney])
        #expect((kidney.truePositives, kidney.falsePositives, kidney.falseNegatives) == (8, 2, 2))
        #expect(kidney.dice == 0.8)       // 16 / 20
        #expect(kidney.recall == 0.8)     // 8 / 10
        #expect(kidney.precision == 0.8)  // 8 / 10
        #expect(kidney.iou == 8.0 / 12.0)
        #expect(abs(kidney.predictedMillilitres - 0.08) < 1e-12)
        #expect(abs(kidney.referenceMillilitres - 0.08) < 1e-12)
    }

    @Test func anEmptyPredictionScoresZeroAndHasNoPrecision() throws {
        let kidney = try #require(metrics(row([]), row([(0...9, 1)]))[.kidney])
        #expect((kidney.truePositives, kidney.falsePositives, kidney.falseNegatives) == (0, 0, 10))
        #expect(kidney.dice == 0)
        #expect(kidney.recall == 0)
        #expect(kidney.precision == nil)
        #expect(kidney.iou == 0)
        #expect(kidney.predictedMillilitres == 0)
    }

    @Test func aClassAbsentFromBothIsUndefinedNotPerfect() throws {
        let tumour = try #require(metrics(row([(0...9, 1)]), row([(0...9, 1)]))[.tumour])
        #expect(tumour.dice == nil && tumour.recall == nil && tumour.precision == nil && tumour.iou == nil)
    }

    @Test func tumourCalledKidneyCountsAgainstBothClasses() throws {
        // Reference: kidney 0...9 and tumour 10...12. Prediction: kidney 0...12.
        let result = metrics(row([(0...12, 1)]), row([(0...9, 1), (10...12, 2)]))
        let kidney = try #require(result[.kidney])
        let tumour = try #require(result[.tumour])
        #expect((kidney.truePositives, kidney.falsePositives, kidney.falseNegatives) == (10, 3, 0))
        #expect(kidney.dice == 20.0 / 23.0)
        #expect((tumour.truePositives, tumour.falsePositives, tumour.falseNegatives) == (0, 0, 3))
        #expect(tumour.dice == 0)
        #expect(tumour.precision == nil)
    }

    @Test func aKiTSLabelMapAgainstItselfScoresOne() throws {
        let labels = try VolumeReader().readLabels(from: SharedData.kitsLabels(61))
        let result = try evaluate(prediction: labels, reference: labels)
        #expect(result.map(\.dice) == [1, 1])
        #expect(result.map(\.truePositives) == [124_943, 23276])
    }

    @Test func measuresClassVolumesFromTheSpacing() throws {
        let labels = try VolumeReader().readLabels(from: SharedData.kitsLabels(61))  // 5 x 0.9766 x 0.9766 mm voxels
        let volumes = classVolumes(labels)
        #expect(volumes.map(\.voxels) == [124_943, 23276])
        #expect(abs(volumes[0].millilitres - 124_943 * 5 * 0.9765625 * 0.9765625 / 1000) < 0.01)
    }

    @Test func comparesMapsStoredInDifferentVoxelOrders() throws {
        // The same labels re-stored in canonical order with a matching affine score 1.
        let labels = try VolumeReader().readLabels(from: SharedData.exampleKidneyReference)
        let axial = labels.axialStack()
        var geometry = labels.geometry
        geometry.size = axial.size
        geometry.pixdim = axial.spacing
        geometry.sform.matrix = Affine(rows: [SIMD4(-3, 0, 0, 0), SIMD4(0, -3, 0, 0), SIMD4(0, 0, 3, 0)])
        let restored = LabelMap(geometry: geometry, voxels: axial.voxels, source: labels.source)
        #expect(try evaluate(prediction: restored, reference: labels).first?.dice == 1)
    }

    @Test func refusesMapsOnDifferentGrids() throws {
        let kits = try VolumeReader().readLabels(from: SharedData.kitsLabels(61))
        let example = try VolumeReader().readLabels(from: SharedData.exampleKidneyReference)
        #expect(throws: MetricsError.self) { try evaluate(prediction: example, reference: kits) }
    }

    @Test func summarisesMeanAndSampleSDOverDefinedCases() throws {
        let cases = [
            metrics(row([(2...11, 1)]), row([(0...9, 1)])),           // kidney Dice 0.8
            metrics(row([(0...5, 1)]), row([(0...9, 1)])),            // kidney Dice 12/16 = 0.75
            metrics(row([]), row([])),                                // kidney undefined
        ].map { Array($0.values) }
        let kidney = try #require(summarize(cases).first { $0.label == .kidney })
        let dice = try #require(kidney.dice)
        #expect(kidney.cases == 3)
        #expect(dice.count == 2)
        #expect(abs(dice.mean - 0.775) < 1e-12)
        #expect(abs(dice.sd! - (2 * 0.025 * 0.025).squareRoot()) < 1e-12)
        let tumour = try #require(summarize(cases).first { $0.label == .tumour })
        #expect(tumour.dice == nil)
    }

    @Test func poolsCasesBySummingTheirVoxels() throws {
        let cases = [
            metrics(row([(2...11, 1)]), row([(0...9, 1)])),           // TP 8, FP 2, FN 2
            metrics(row([(0...3, 1)]), row([])),                      // FP 4: no reference kidney
        ].map { Array($0.values) }
        let kidney = try #require(pooled(cases).first { $0.label == .kidney })
        #expect((kidney.truePositives, kidney.falsePositives, kidney.falseNegatives) == (8, 6, 2))
        #expect(kidney.dice == 16.0 / 24.0)  // the mean of the cases' Dice: (0.8 + 0) / 2
        #expect(kidney.precision == 8.0 / 14.0)
        #expect(abs(kidney.predictedMillilitres - 0.112) < 1e-12)
        #expect(abs(kidney.referenceMillilitres - 0.08) < 1e-12)
        let tumour = try #require(pooled(cases).first { $0.label == .tumour })
        #expect(tumour.dice == nil)
    }

    @Test func writesUndefinedValuesAsJSONNull() throws {
        let single = summarize([Array(metrics(row([(2...11, 1)]), row([(0...9, 1)])).values)])
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(single)) as? [[String: Any]]
        let kidney = try #require(encoded?.first)
        #expect(kidney["label"] as? String == "kidney")
        #expect((kidney["dice"] as? [String: Any])?["sd"] is NSNull)  // one case has no spread
        #expect(encoded?.last?["dice"] is NSNull)  // tumour never defined
    }
}
