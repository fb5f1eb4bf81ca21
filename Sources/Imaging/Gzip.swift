internal import CNIfTI
import Foundation

/// gzip files, by zlib through libnifti's znzlib (already linked for .nii.gz).
public enum Gzip {
    public static func write(_ bytes: [UInt8], to url: URL) throws {
        let temporary = url.appendingPathExtension("partial")
        guard kseg_gzip_write(temporary.path, bytes, bytes.count) == 0 else {
            throw VolumeIOError.unreadable(path: url.path, reason: "cannot write the gzip file")
        }
        guard rename(temporary.path, url.path) == 0 else {
            throw VolumeIOError.unreadable(path: url.path, reason: "cannot put the gzip file in place")
        }
    }
}
