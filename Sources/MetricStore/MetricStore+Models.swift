// Models and their baselines. A few rows, never deleted by the byte cap.

extension MetricStore {
    public struct Model: Sendable, Equatable {
        public var sha256: String
        public var name: String
        public var version: String
        public var path: String
        /// When the store first saw this model.
        public var installedMs: Int64
        /// When it last became the active model; nil if it never ran.
        public var activatedMs: Int64?
        /// The model's drift baseline (METRICS.md), as the monitor wrote it.
        public var baselineJSON: String?
        public var baselineMs: Int64?
    }

    /// Adds a model, or updates the name, version and path of a known one. A non-nil
    /// `activatedMs` makes it the active model; a non-nil `baselineJSON` replaces its baseline.
    /// Nil leaves a known model's activation and baseline as they were.
    public func upsertModel(sha256: String, name: String, version: String, path: String,
                            activatedMs: Int64? = nil, baselineJSON: String? = nil) throws {
        let nowMs = now()
        _ = try recoveringFromDamage {
            try connection.cached("""
                INSERT INTO models (sha256, name, version, path, installed_ms, activated_ms, baseline_json, baseline_ms)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?7 IS NULL THEN NULL ELSE ?5 END)
                ON CONFLICT (sha256) DO UPDATE SET
                    name = excluded.name, version = excluded.version, path = excluded.path,
                    activated_ms = coalesce(excluded.activated_ms, activated_ms),
                    baseline_json = coalesce(excluded.baseline_json, baseline_json),
                    baseline_ms = CASE WHEN excluded.baseline_json IS NULL THEN baseline_ms ELSE ?5 END
                """).run(.text(sha256), .text(name), .text(version), .text(path), .integer(nowMs), .optional(activatedMs), .optional(baselineJSON))
        }
    }

    /// Makes a known model the active one (e.g. after a rollback), as of `atMs` (default: now).
    public func activateModel(sha256: String, atMs: Int64? = nil) throws {
        let at = atMs ?? now()
        try updateKnownModel(sha256, "UPDATE models SET activated_ms = ? WHERE sha256 = ?", .integer(at), .text(sha256))
    }

    /// Replaces a known model's baseline.
    public func setBaseline(sha256: String, json: String) throws {
        try updateKnownModel(sha256, "UPDATE models SET baseline_json = ?, baseline_ms = ? WHERE sha256 = ?",
                             .text(json), .integer(now()), .text(sha256))
    }

    /// The model activated last, nil if none was.
    public func activeModel() throws -> Model? {
        try selectModels("WHERE activated_ms IS NOT NULL ORDER BY activated_ms DESC LIMIT 1").first
    }

    public func model(sha256: String) throws -> Model? {
        try selectModels("WHERE sha256 = ?", .text(sha256)).first
    }

    /// Every model, the first seen first.
    public func models() throws -> [Model] {
        try selectModels("ORDER BY installed_ms, sha256")
    }

    private func updateKnownModel(_ sha256: String, _ sql: String, _ arguments: SQLiteValue...) throws {
        let changed = try recoveringFromDamage {
            let statement = try connection.cached(sql)
            try statement.bind(arguments)
            defer { statement.reset() }
            try statement.step()
            return connection.changes
        }.value
        if changed == 0 { throw MetricStoreError.unknownModel(sha256: sha256) }
    }

    private func selectModels(_ clause: String, _ arguments: SQLiteValue...) throws -> [Model] {
        try recoveringFromDamage {
            let select = try connection.cached("""
                SELECT sha256, name, version, path, installed_ms, activated_ms, baseline_json, baseline_ms FROM models \(clause)
                """)
            try select.bind(arguments)
            defer { select.reset() }
            var models: [Model] = []
            while try select.step() {
                models.append(Model(sha256: select.text(0), name: select.text(1), version: select.text(2), path: select.text(3),
                                    installedMs: select.int64(4), activatedMs: select.optionalInt64(5),
                                    baselineJSON: select.optionalText(6), baselineMs: select.optionalInt64(7)))
            }
            return models
        }.value
    }
}
