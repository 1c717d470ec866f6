/* The two LZ4 entry points Verilator's FST writer calls, declared as in lz4.h (LZ4 1.9,
 * BSD-2-Clause, stable ABI since 1.7). hwgen uses this file only when the system has the LZ4
 * runtime library but not its development headers, so waveforms work without a -dev package. */
#ifndef HWGEN_LZ4_SHIM_H
#define HWGEN_LZ4_SHIM_H
#ifdef __cplusplus
extern "C" {
#endif
int LZ4_compressBound(int inputSize);
int LZ4_compress_default(const char* src, char* dst, int srcSize, int dstCapacity);
#ifdef __cplusplus
}
#endif
#endif
