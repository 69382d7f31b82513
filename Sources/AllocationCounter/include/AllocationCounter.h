#ifndef QUANTWATCH_ALLOCATION_COUNTER_H
#define QUANTWATCH_ALLOCATION_COUNTER_H

/// Starts counting heap allocations made by the calling thread.
void qw_allocations_begin(void);
/// Stops counting and returns how many allocations the calling thread made since begin.
long qw_allocations_end(void);

#endif
