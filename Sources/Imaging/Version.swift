/// kidneyseg's version: what `kidneyseg --version` prints and what a DICOM SEG names as the
/// software that made it.
public let kidneysegVersion = "0.6.0"
