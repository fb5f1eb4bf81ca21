import Foundation
import Imaging
import TestSupport
import Testing
import Training

@Suite struct SynthesisTests {
    let scratch = ScratchDirectory()

    @Test func cutsTumourCrossSectionsAtTheirRealSize() throws {
        // KiTS case 61: 29 slices of 5 mm, 0.977 mm pixels; its tumour covers 13 slices.
        let shapes = try LesionLibrary.shapes(from: [SharedData.kitsLabels(61)], perCase: 3, spacing: 0.8)
        #expect(shapes.count == 3)
        #expect(shapes.allSatisfy { $0.source.hasPrefix("case_00061 slice ") && $0.mask.values.contains(1) })
        // The largest axial tumour area of case 61 is 2963 pixels of 0.977² mm: about 4400 at 0.8 mm.
        let largest = shapes.map(\.tumourPixels).max() ?? 0
        #expect(largest > 500 && largest <= 4600)
    }

    /// A slice with one kidney disk; the painter adds a tumour beside it and labels it.
    @Test func paintsALabelledDarkerTumourBesideTheKidney() throws {
        let (width, height) = (256, 256)
        var labels = Plane(width: width, height: height, values: (0..<(width * height)).map { index -> UInt8 in
            let (x, y) = (index % width - 128, index / width - 128)
            return x * x + y * y < 15 * 15 ? 1 : 0
        })
        var image = Plane(width: width, height: height, values: labels.values.map { $0 == 1 ? Float(170) : 40 })
        let shapes = try LesionLibrary.shapes(from: [SharedData.kitsLabels(61)], perCase: 1, spacing: 0.8)
        var generator = SeededGenerator(seed: 3)
        let original = labels
        #expect(TumourPainter(clamp: 0...255).paint(shapes[0], into: &image, labels: &labels, using: &generator))
        let tumour = labels.values.indices.filter { labels.values[$0] == 2 }
        #expect(tumour.count == shapes[0].tumourPixels)  // all of it lands inside the image
        let mean = tumour.map { image.values[$0] }.reduce(0, +) / Float(tumour.count)
        #expect(mean > 0 && mean < 140, "tumour mean \(mean) HU should sit below the 170 HU kidney")
        #expect(image.values.allSatisfy { (0...255).contains($0) })
        // Kidney is kept where no tumour was painted.
        #expect(original.values.indices.allSatisfy { original.values[$0] != 1 || labels.values[$0] >= 1 })

        var empty = Plane(width: 8, height: 8, values: [UInt8](repeating: 0, count: 64))
        var flat = Plane(width: 8, height: 8, values: [Float](repeating: 0, count: 64))
        #expect(!TumourPainter().paint(shapes[0], into: &flat, labels: &empty, using: &generator))
    }

    @Test func writesOneKiTSCasePerPatientThatTrainingReads() throws {
        let curvas = try TrainingCase.cases(in: SharedData.root.appendingPathComponent("curvas-slices")).filter { $0.patient == "10014" }
        let shapes = try LesionLibrary.shapes(from: [SharedData.kitsLabels(61)], perCase: 2, spacing: 0.8)
        var synthesis = TumourSynthesis()
        synthesis.variants = 2
        synthesis.painter = TumourPainter(clamp: 0...255)
        let reader = VolumeReader(options: DecodeOptions(png: PNGHounsfieldMapping(range8: 0...255)))
        let output = scratch.url.appendingPathComponent("synthetic")
        let provenance = try synthesis.run(slices: curvas, reader: reader, shapes: shapes, output: output)
        let cases = try TrainingCase.cases(in: output)
        #expect(cases.map(\.patient) == ["case_10014"])
        let sources = try #require(provenance["case_10014"])
        let labels = try VolumeReader().readLabels(from: cases[0].labels).axialStack()
        #expect(labels.sliceCount == sources.count)
        for source in sources {
            #expect(labels.slice(source.slice).values.contains(2) == (source.tumour != nil), "slice \(source.slice)")
        }
        let image = try VolumeReader().readCT(from: cases[0].image).axialStack()
        let original = try reader.readCT(from: curvas[0].image).axialStack().slice(0)
        #expect(image.slice(0).values == original.values)  // the patient's own slices are kept as they are
    }
}

extension SynthesisTests {
    /// A phantom keeps the label map's anatomy, voxel for voxel, and puts plausible HU around it.
    @Test func buildsAPhantomAroundARealLabelMap() throws {
        let labels = try VolumeReader().readLabels(from: SharedData.kitsLabels(61)).axialStack()
        var generator = SeededGenerator(seed: 2)
        let (ct, kept) = try #require(PhantomSynthesis().phantom(from: labels, phase: .portal, using: &generator))
        #expect(ct.size == kept.size && ct.size.x == 512 && ct.spacing.z == 5)  // case 61 already has 5 mm slices
        // Every labelled slice is kept: the kidneys and tumour are all there.
        #expect(kept.voxels.filter { $0 == 2 }.count == labels.voxels.filter { $0 == 2 }.count)
        func mean(_ label: UInt8) -> Float {
            let values = kept.voxels.indices.filter { kept.voxels[$0] == label }.map { ct.voxels[$0] }
            return values.reduce(0, +) / Float(values.count)
        }
        #expect((110...190).contains(mean(1)), "portal-phase kidney \(mean(1)) HU")
        #expect((0...110).contains(mean(2)), "tumour \(mean(2)) HU, below the kidney")
        #expect(ct.voxels[0] < -900)  // the corner of every slice is air
        #expect(ct.voxels.contains { (-130)...(-70) ~= $0 })  // fat
    }
}

extension SynthesisTests {
    /// Each phantom follows from the seed and its own case, so a subset, made in parallel or
    /// alone, gives the same files; and no phantom's slices are thicker than 5 mm.
    @Test func writesTheSamePhantomWhateverElseIsMade() throws {
        let maps = [61, 62].map { SharedData.kitsLabels($0) }
        let folders = ["both", "alone", "reseeded"].map { scratch.url.appendingPathComponent($0) }
        let phases = try PhantomSynthesis().write(labelMaps: maps, to: folders[0], seed: 7)
        #expect(Set(phases.keys) == ["case_00061", "case_00062"])
        #expect(try PhantomSynthesis().write(labelMaps: [maps[1]], to: folders[1], seed: 7) == ["case_00062": phases["case_00062"]!])
        try PhantomSynthesis().write(labelMaps: [maps[1]], to: folders[2], seed: 8)
        let images = try folders.map { try VolumeReader().readCT(from: $0.appendingPathComponent("case_00062/imaging.nii.gz")) }
        let labels = try folders.prefix(2).map { try VolumeReader().readLabels(from: $0.appendingPathComponent("case_00062/segmentation.nii.gz")) }
        #expect(images[1].voxels == images[0].voxels && images[1].geometry == images[0].geometry)
        #expect(labels[1].voxels == labels[0].voxels)
        #expect(images[2].voxels != images[0].voxels)
        for name in phases.keys {
            let image = try VolumeReader().readCT(from: folders[0].appendingPathComponent("\(name)/imaging.nii.gz"))
            #expect(image.axialStack().spacing.z <= 5, "\(name)")
        }
    }
}
