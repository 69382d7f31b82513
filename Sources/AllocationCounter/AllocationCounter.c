// Counts heap allocations per thread, for proving that the per-frame path allocates nothing.
//
// Linked statically into the `quantwatch` executable (`quantwatch bench` reports allocations per
// inference) and into the test binaries, so these definitions of malloc and friends interpose
// glibc's for the whole process (the executable comes first in ELF symbol lookup).
// Counting is per thread and only while enabled: qw_allocations_begin() sets a thread-local flag
// and zeroes a thread-local counter, qw_allocations_end() clears the flag and returns the count,
// so other threads (tests running in parallel, runtime threads) never disturb a measurement.
// Otherwise (and apart from that count) every call forwards to glibc's internal entry point
// (__libc_malloc, …) unchanged: no locking, no change to what the allocator returns.
#include "AllocationCounter.h"

#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

static __thread int counting;
static __thread long allocations;

void qw_allocations_begin(void) {
    allocations = 0;
    counting = 1;
}

long qw_allocations_end(void) {
    counting = 0;
    return allocations;
}

void *malloc(size_t size) {
    if (counting) allocations++;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    if (counting) allocations++;
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    if (counting) allocations++;
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    if (counting) allocations++;
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    if (counting) allocations++;
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (counting) allocations++;
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}

void free(void *pointer) {
    __libc_free(pointer);
}
