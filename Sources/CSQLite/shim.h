#include <sqlite3.h>

// sqlite3_db_config is variadic, which Swift cannot call: one fixed-argument form for the
// integer options (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, …).
static inline int csqlite_db_config_int(sqlite3 *db, int op, int value) {
    return sqlite3_db_config(db, op, value, (int *)0);
}
