#!/usr/bin/python3
"""Test helper: pydicom (Debian's python3-pydicom), a DICOM library independent of DCMTK and GDCM,
on the DICOM SEG that kidneyseg writes.

  dicom_seg.py with-uids SRC DST      copies the series in SRC to DST, filling in the Study and
                                      Series Instance UIDs (and a patient) an anonymiser blanked
  dicom_seg.py relabel SRC DST UID    copies one DICOM file, claiming transfer syntax UID for its
                                      (unchanged) pixel data
  dicom_seg.py read SEG SOURCE OUT    writes OUT/frames.raw (one byte per pixel, frame after frame)
                                      and OUT/seg.json (what the SEG says, and its source's attributes)
"""
import json
import os
import sys

import pydicom
from pydicom.uid import generate_uid

COPIED = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
          "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName", "FrameOfReferenceUID"]


def with_uids(source, destination):
    os.makedirs(destination, exist_ok=True)
    study = generate_uid(entropy_srcs=["kidneyseg test study"])
    series = generate_uid(entropy_srcs=["kidneyseg test series"])
    for name in sorted(os.listdir(source)):
        ds = pydicom.dcmread(os.path.join(source, name))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientName, ds.PatientID, ds.StudyID, ds.AccessionNumber = "Test^Kidney", "KSEG-0001", "1", "A0001"
        if not ds.get("SOPInstanceUID"):
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        if not ds.get("SOPClassUID"):
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        ds.save_as(os.path.join(destination, name))


def relabel(source, destination, uid):
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = uid
    ds.save_as(destination)


def code(item):
    return {"value": str(item.CodeValue), "scheme": str(item.CodingSchemeDesignator), "meaning": str(item.CodeMeaning)}


def read(seg_path, source_folder, out):
    seg = pydicom.dcmread(seg_path)
    count = int(seg.NumberOfFrames)
    frames = seg.pixel_array.reshape(count, int(seg.Rows), int(seg.Columns)).astype("uint8")
    os.makedirs(out, exist_ok=True)
    frames.tofile(os.path.join(out, "frames.raw"))
    sources = {}
    for name in sorted(os.listdir(source_folder)):
        ds = pydicom.dcmread(os.path.join(source_folder, name), stop_before_pixels=True)
        sources[str(ds.SOPInstanceUID)] = [float(v) for v in ds.ImagePositionPatient]
    first = pydicom.dcmread(os.path.join(source_folder, sorted(os.listdir(source_folder))[0]), stop_before_pixels=True)
    shared = seg.SharedFunctionalGroupsSequence[0]
    report = {
        "sop_class_uid": str(seg.SOPClassUID),
        "modality": str(seg.Modality),
        "segmentation_type": str(seg.SegmentationType),
        "series_instance_uid": str(seg.SeriesInstanceUID),
        "rows": int(seg.Rows), "columns": int(seg.Columns), "frames": count,
        "orientation": [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient],
        "pixel_spacing": [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing],
        "segments": [{"number": int(s.SegmentNumber), "label": str(s.SegmentLabel),
                      "category": code(s.SegmentedPropertyCategoryCodeSequence[0]),
                      "type": code(s.SegmentedPropertyTypeCodeSequence[0]),
                      "algorithm_type": str(s.SegmentAlgorithmType),
                      "cielab": [int(v) for v in s.RecommendedDisplayCIELabValue]} for s in seg.SegmentSequence],
        "per_frame": [{"segment": int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber),
                       "source": str(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID),
                       "position": [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]}
                      for f in seg.PerFrameFunctionalGroupsSequence],
        "referenced_series": [{"uid": str(s.SeriesInstanceUID),
                               "instances": [str(i.ReferencedSOPInstanceUID) for i in s.ReferencedInstanceSequence]}
                              for s in seg.ReferencedSeriesSequence],
        "attributes": {k: {"seg": str(seg.get(k, "")), "source": str(first.get(k, ""))} for k in COPIED},
        "source_positions": sources,
        "source_series_instance_uid": str(first.SeriesInstanceUID),
    }
    with open(os.path.join(out, "seg.json"), "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    {"with-uids": with_uids, "relabel": relabel, "read": read}[command](*arguments)
