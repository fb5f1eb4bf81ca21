#ifndef CFUZZER_H
#define CFUZZER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver, for a program that has its own entry point (SwiftPM renames an
/// executable's main): runs the fuzzing loop with `callback` as LLVMFuzzerTestOneInput.
/// Defined by libFuzzer (clang's -fsanitize=fuzzer); only referenced in fuzzing builds.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
