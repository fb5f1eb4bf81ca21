// DICOM SEG writing with DCMTK: a binary Segmentation object whose frames lie on the source
// series' slices, one frame per segment and slice that holds any of it.
#include "CDICOMSEG.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmiod/cielabutil.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>
#include <dcmtk/oflog/oflog.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Failure {
    std::string message;
};

void check(const OFCondition &condition, const char *what) {
    if (condition.bad()) throw Failure{std::string(what) + ": " + condition.text()};
}

/// A Decimal String holds at most 16 characters: the most precise form that fits.
std::string decimal(double value) {
    char text[32];
    for (int digits = 12; digits > 0; --digits) {
        std::snprintf(text, sizeof text, "%.*g", digits, value);
        if (std::strlen(text) <= 16) break;
    }
    return text;
}

std::string uid(const char *value) {
    if (value == nullptr || *value == '\0') throw Failure{"a UID is missing"};
    return value;
}

/// The kidneyseg segment as DCMTK's segment, colour given in DICOM's CIELab.
DcmSegment *makeSegment(const kseg_seg_segment &description) {
    DcmSegment *segment = nullptr;
    CodeSequenceMacro category(description.category_code, "SCT", description.category_meaning);
    CodeSequenceMacro type(description.type_code, "SCT", description.type_meaning);
    check(DcmSegment::create(segment, description.name, category, type, DcmSegTypes::SAT_AUTOMATIC, "kidneyseg"), "segment");
    double L = 0, a = 0, b = 0;
    IODCIELabUtil::rgb2DicomLab(L, a, b, description.rgb[0] / 255.0, description.rgb[1] / 255.0, description.rgb[2] / 255.0);
    check(segment->setRecommendedDisplayCIELabValue(Uint16(L + 0.5), Uint16(a + 0.5), Uint16(b + 0.5)), "segment colour");
    return segment;
}

void write(const kseg_seg_request &request, const char *path) {
    if (request.rows < 1 || request.columns < 1 || request.slices < 1 || request.rows > 65535 || request.columns > 65535)
        throw Failure{"the grid cannot be a Segmentation"};
    IODGeneralEquipmentModule::EquipmentInfo equipment("kidneyseg", "1", "kidneyseg", request.software_version);
    ContentIdentificationMacro content("1", "KIDNEYSEG", "Kidney and kidney tumour segmentation", "kidneyseg^");
    DcmSegmentation *created = nullptr;
    check(DcmSegmentation::createBinarySegmentation(created, Uint16(request.rows), Uint16(request.columns), equipment, content),
          "create");
    std::unique_ptr<DcmSegmentation> seg(created);

    // Patient, study and frame of reference as the source has them; the series is new.
    check(seg->importHierarchy(OFString(request.source_file), OFTrue, OFTrue, OFTrue, OFFalse), "import the source's patient and study");
    check(seg->getSeries().setSeriesDescription(request.series_description), "series description");
    check(seg->getSegmentationSeriesModule().setSeriesNumber("9001"), "series number");

    char dimensionUID[70];
    dcmGenerateUniqueIdentifier(dimensionUID, SITE_INSTANCE_UID_ROOT);
    IODMultiframeDimensionModule &dimensions = seg->getDimensions();
    check(dimensions.addDimensionIndex(DCM_ReferencedSegmentNumber, dimensionUID, DCM_SegmentIdentificationSequence,
                                       "ReferencedSegmentNumber"), "dimension");
    check(dimensions.addDimensionIndex(DCM_ImagePositionPatient, dimensionUID, DCM_PlanePositionSequence,
                                       "ImagePositionPatient"), "dimension");

    const double *o = request.orientation;
    std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
        decimal(o[0]).c_str(), decimal(o[1]).c_str(), decimal(o[2]).c_str(),
        decimal(o[3]).c_str(), decimal(o[4]).c_str(), decimal(o[5]).c_str()));
    check(seg->addForAllFrames(*orientation), "orientation");
    FGPixelMeasures measures;
    check(measures.setPixelSpacing((decimal(request.pixel_spacing[0]) + "\\" + decimal(request.pixel_spacing[1])).c_str()), "pixel spacing");
    check(measures.setSliceThickness(decimal(request.slice_spacing).c_str()), "slice thickness");
    check(measures.setSpacingBetweenSlices(decimal(request.slice_spacing).c_str()), "slice spacing");
    check(seg->addForAllFrames(measures), "pixel measures");

    const std::string sourceSeries = uid(request.source_series_uid), sourceClass = uid(request.source_sop_class_uid);
    const size_t plane = size_t(request.rows) * size_t(request.columns);
    std::vector<bool> referenced(request.slices, false);
    std::vector<Uint8> frame(plane);
    for (int s = 0; s < request.segment_count; ++s) {
        const kseg_seg_segment &description = request.segments[s];
        Uint16 number = 0;
        check(seg->addSegment(makeSegment(description), number), "add segment");
        std::vector<int> slices;
        for (int z = 0; z < request.slices; ++z) {
            const unsigned char *labels = request.labels + size_t(z) * plane;
            for (size_t i = 0; i < plane; ++i) if (labels[i] == description.label) { slices.push_back(z); break; }
        }
        if (slices.empty()) slices.push_back(0);
        for (int z : slices) {
            const unsigned char *labels = request.labels + size_t(z) * plane;
            for (size_t i = 0; i < plane; ++i) frame[i] = labels[i] == description.label;
            const double *p = request.positions + 3 * size_t(z);
            std::unique_ptr<FGPlanePosPatient> position(
                FGPlanePosPatient::createMinimal(decimal(p[0]).c_str(), decimal(p[1]).c_str(), decimal(p[2]).c_str()));
            FGFrameContent frameContent;
            check(frameContent.setDimensionIndexValues(number, 0), "dimension index");
            check(frameContent.setDimensionIndexValues(Uint32(z + 1), 1), "dimension index");
            OFVector<ImageSOPInstanceReferenceMacro> sources(1);
            check(sources[0].setReferencedSOPClassUID(sourceClass.c_str()), "source class");
            check(sources[0].setReferencedSOPInstanceUID(uid(request.slice_uids[z]).c_str()), "source instance");
            std::unique_ptr<FGDerivationImage> derivation(DcmSegmentation::createDerivationImageFG(sources, ""));
            if (!derivation) throw Failure{"derivation image"};
            OFVector<FGBase *> perFrame;
            perFrame.push_back(position.get());
            perFrame.push_back(&frameContent);
            perFrame.push_back(derivation.get());
            check(seg->addFrame(frame.data(), number, perFrame), "add frame");
            referenced[z] = true;
        }
    }

    // Every source slice a frame was derived from, under its series.
    auto *series = new IODSeriesAndInstanceReferenceMacro::ReferencedSeriesItem();
    seg->getCommonInstanceReference().getReferencedSeriesItems().push_back(series);
    check(series->setSeriesInstanceUID(sourceSeries.c_str()), "referenced series");
    for (int z = 0; z < request.slices; ++z) {
        if (!referenced[z]) continue;
        auto *instance = new SOPInstanceReferenceMacro();
        series->getReferencedInstanceItems().push_back(instance);
        check(instance->setReferencedSOPClassUID(sourceClass.c_str()), "referenced class");
        check(instance->setReferencedSOPInstanceUID(request.slice_uids[z]), "referenced instance");
    }
    check(seg->saveFile(path, EXS_LittleEndianExplicit), "write");
}

}  // namespace

extern "C" int kseg_seg_write(const kseg_seg_request *request, const char *path, char *error, size_t error_capacity) {
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    try {
        write(*request, path);
        return 0;
    } catch (const Failure &failure) {
        std::snprintf(error, error_capacity, "%s", failure.message.c_str());
    } catch (const std::exception &exception) {
        std::snprintf(error, error_capacity, "%s", exception.what());
    }
    return -1;
}
