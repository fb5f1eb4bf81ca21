#include "CDICOM.h"

#include <gdcmImageReader.h>
#include <gdcmReader.h>
#include <gdcmStringFilter.h>
#include <gdcmTransferSyntax.h>

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

void copy(char *destination, size_t capacity, std::string text) {
    while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
    snprintf(destination, capacity, "%s", text.c_str());
}

int fail(char *error, size_t capacity, const std::string &message) {
    snprintf(error, capacity, "%s", message.c_str());
    return -1;
}

int integer(const gdcm::StringFilter &filter, uint16_t group, uint16_t element) {
    std::string text = filter.ToString(gdcm::Tag(group, element));
    return text.empty() ? 0 : atoi(text.c_str());
}

template <typename Stored>
void convert(const std::vector<char> &buffer, float *values, size_t count) {
    const Stored *stored = reinterpret_cast<const Stored *>(buffer.data());
    for (size_t i = 0; i < count; i++) values[i] = static_cast<float>(stored[i]);
}

}  // namespace

extern "C" int kseg_dicom_read_header(const char *path, kseg_dicom_header *header, char *error, size_t error_capacity) {
    memset(header, 0, sizeof(*header));
    try {
        gdcm::Reader reader;
        reader.SetFileName(path);
        if (!reader.Read()) {
            // Part 10's "DICM" after the preamble says it was meant to be DICOM: it is damaged.
            char magic[4] = {0};
            FILE *file = fopen(path, "rb");
            bool marked = file && fseek(file, 128, SEEK_SET) == 0 && fread(magic, 1, 4, file) == 4 && memcmp(magic, "DICM", 4) == 0;
            if (file) fclose(file);
            return marked ? fail(error, error_capacity, "the file is truncated or damaged") : 1;
        }
        const gdcm::File &file = reader.GetFile();
        const gdcm::DataSet &data = file.GetDataSet();
        gdcm::StringFilter filter;
        filter.SetFile(file);
        const struct { char *field; size_t size; uint16_t group, element; } fields[] = {
            {header->sop_class_uid, sizeof(header->sop_class_uid), 0x0008, 0x0016},
            {header->sop_instance_uid, sizeof(header->sop_instance_uid), 0x0008, 0x0018},
            {header->study_instance_uid, sizeof(header->study_instance_uid), 0x0020, 0x000D},
            {header->series_instance_uid, sizeof(header->series_instance_uid), 0x0020, 0x000E},
            {header->frame_of_reference_uid, sizeof(header->frame_of_reference_uid), 0x0020, 0x0052},
            {header->modality, sizeof(header->modality), 0x0008, 0x0060},
            {header->image_type, sizeof(header->image_type), 0x0008, 0x0008},
            {header->image_position, sizeof(header->image_position), 0x0020, 0x0032},
            {header->image_orientation, sizeof(header->image_orientation), 0x0020, 0x0037},
            {header->pixel_spacing, sizeof(header->pixel_spacing), 0x0028, 0x0030},
            {header->slice_thickness, sizeof(header->slice_thickness), 0x0018, 0x0050},
            {header->rescale_slope, sizeof(header->rescale_slope), 0x0028, 0x1053},
            {header->rescale_intercept, sizeof(header->rescale_intercept), 0x0028, 0x1052},
            {header->instance_number, sizeof(header->instance_number), 0x0020, 0x0013},
        };
        for (const auto &field : fields) copy(field.field, field.size, filter.ToString(gdcm::Tag(field.group, field.element)));
        // Some exporters leave the dataset's SOP Class and Instance UIDs empty; the file meta
        // information repeats them.
        if (!header->sop_class_uid[0]) copy(header->sop_class_uid, sizeof(header->sop_class_uid), filter.ToString(gdcm::Tag(0x0002, 0x0002)));
        if (!header->sop_instance_uid[0]) copy(header->sop_instance_uid, sizeof(header->sop_instance_uid), filter.ToString(gdcm::Tag(0x0002, 0x0003)));
        copy(header->transfer_syntax_uid, sizeof(header->transfer_syntax_uid),
             gdcm::TransferSyntax::GetTSString(file.GetHeader().GetDataSetTransferSyntax()));
        header->rows = integer(filter, 0x0028, 0x0010);
        header->columns = integer(filter, 0x0028, 0x0011);
        header->frames = integer(filter, 0x0028, 0x0008);
        header->samples_per_pixel = integer(filter, 0x0028, 0x0002);
        header->has_pixel_data = data.FindDataElement(gdcm::Tag(0x7FE0, 0x0010)) ? 1 : 0;
        return 0;
    } catch (const std::exception &exception) {
        return fail(error, error_capacity, std::string("cannot read the DICOM file: ") + exception.what());
    } catch (...) {
        return fail(error, error_capacity, "cannot read the DICOM file");
    }
}

extern "C" int kseg_dicom_read_pixels(const char *path, float *values, size_t count, char *error, size_t error_capacity) {
    try {
        gdcm::ImageReader reader;
        reader.SetFileName(path);
        if (!reader.Read()) return fail(error, error_capacity, "GDCM cannot read the image in this file");
        const gdcm::Image &image = reader.GetImage();
        const unsigned int *dimensions = image.GetDimensions();
        const gdcm::PixelFormat format = image.GetPixelFormat();
        if (format.GetSamplesPerPixel() != 1) return fail(error, error_capacity, "a CT image has one sample per pixel");
        if ((size_t)dimensions[0] * dimensions[1] != count || (image.GetNumberOfDimensions() == 3 && dimensions[2] != 1)) {
            return fail(error, error_capacity, "the pixel data does not match the declared rows and columns");
        }
        std::vector<char> buffer(image.GetBufferLength());
        if (!image.GetBuffer(buffer.data())) {
            // A syntax GDCM decodes that fails to decode is damaged data, not an unsupported syntax.
            const gdcm::TransferSyntax::TSType decodable[] = {
                gdcm::TransferSyntax::ImplicitVRLittleEndian, gdcm::TransferSyntax::ExplicitVRLittleEndian,
                gdcm::TransferSyntax::ExplicitVRBigEndian, gdcm::TransferSyntax::DeflatedExplicitVRLittleEndian,
                gdcm::TransferSyntax::RLELossless, gdcm::TransferSyntax::JPEGBaselineProcess1,
                gdcm::TransferSyntax::JPEGExtendedProcess2_4, gdcm::TransferSyntax::JPEGLosslessProcess14,
                gdcm::TransferSyntax::JPEGLosslessProcess14_1, gdcm::TransferSyntax::JPEGLSLossless,
                gdcm::TransferSyntax::JPEGLSNearLossless, gdcm::TransferSyntax::JPEG2000Lossless, gdcm::TransferSyntax::JPEG2000,
            };
            for (auto syntax : decodable) {
                if (image.GetTransferSyntax() == syntax) return fail(error, error_capacity, "the pixel data is truncated or damaged");
            }
            const char *syntax = gdcm::TransferSyntax::GetTSString(image.GetTransferSyntax());
            return fail(error, error_capacity, std::string("cannot decompress the pixel data (transfer syntax ") + (syntax ? syntax : "unknown") + ")");
        }
        size_t needed = count * format.GetPixelSize();
        if (buffer.size() < needed) return fail(error, error_capacity, "the pixel data ends early");
        switch (format.GetScalarType()) {
        case gdcm::PixelFormat::UINT8: convert<uint8_t>(buffer, values, count); break;
        case gdcm::PixelFormat::INT8: convert<int8_t>(buffer, values, count); break;
        case gdcm::PixelFormat::UINT12:
        case gdcm::PixelFormat::UINT16: convert<uint16_t>(buffer, values, count); break;
        case gdcm::PixelFormat::INT12:
        case gdcm::PixelFormat::INT16: convert<int16_t>(buffer, values, count); break;
        case gdcm::PixelFormat::UINT32: convert<uint32_t>(buffer, values, count); break;
        case gdcm::PixelFormat::INT32: convert<int32_t>(buffer, values, count); break;
        default: return fail(error, error_capacity, std::string("unsupported pixel format ") + format.GetScalarTypeAsString());
        }
        return 0;
    } catch (const std::exception &exception) {
        return fail(error, error_capacity, std::string("cannot decode the DICOM pixels: ") + exception.what());
    } catch (...) {
        return fail(error, error_capacity, "cannot decode the DICOM pixels");
    }
}

extern "C" int kseg_spawn_reader(const char *path, char *const argv[], char *const envp[], int stdout_fd) {
    posix_spawn_file_actions_t actions;
    if (posix_spawn_file_actions_init(&actions) != 0) return -1;
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    pid_t pid = -1;
    int status = posix_spawn(&pid, path, &actions, nullptr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    return status == 0 ? pid : -1;
}
