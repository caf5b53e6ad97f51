//! SQL that both stores run as written: dynamically typed values and rows, and one [`Sql`]
//! connection trait each backend implements over its own driver.
//!
//! Statements number their parameters `$1`, `$2`… (PostgreSQL's form; SQLite is handed `?1`,
//! `?2`…, which it binds by number too) and stay within what both dialects share: `ON CONFLICT`
//! upserts, `RETURNING`, `IS DISTINCT FROM`. Values are converted to each column's type by the
//! backend (a PostgreSQL `REAL` takes an `f32`, an embedding is a pgvector or a blob).

use crate::{GalleryError, Result};

/// One parameter or one column of a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    /// An embedding: a pgvector in PostgreSQL, little-endian f32s in SQLite.
    Vector(Vec<f32>),
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from($v: $t) -> Self { $e }
        })*
    };
}

value_from! {
    i64 => |v| Value::Int(v),
    u32 => |v| Value::Int(v.into()),
    u16 => |v| Value::Int(v.into()),
    bool => |v| Value::Int(v.into()),
    f64 => |v| Value::Real(v),
    f32 => |v| Value::Real(v.into()),
    String => |v| Value::Text(v),
    &str => |v| Value::Text(v.to_owned()),
    &String => |v| Value::Text(v.clone()),
    Vec<u8> => |v| Value::Blob(v),
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// Parameters for a statement: `params![a, b]`.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::sql::Value::from($value)),*][..]
    };
}
pub(crate) use params;

/// A row of a result, read by column position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    fn at(&self, column: usize) -> Result<&Value> {
        self.0.get(column).ok_or_else(|| GalleryError::Storage(format!("a row has no column {column}")))
    }

    fn mismatch(&self, column: usize, wanted: &str) -> GalleryError {
        GalleryError::Storage(format!("column {column} is {:?}, not {wanted}", self.0.get(column)))
    }

    pub(crate) fn opt_i64(&self, column: usize) -> Result<Option<i64>> {
        match self.at(column)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            _ => Err(self.mismatch(column, "an integer")),
        }
    }

    pub(crate) fn i64(&self, column: usize) -> Result<i64> {
        self.opt_i64(column)?.ok_or_else(|| self.mismatch(column, "an integer"))
    }

    pub(crate) fn bool(&self, column: usize) -> Result<bool> {
        Ok(self.i64(column)? != 0)
    }

    pub(crate) fn f64(&self, column: usize) -> Result<f64> {
        match self.at(column)? {
            Value::Real(v) => Ok(*v),
            Value::Int(v) => Ok(*v as f64),
            _ => Err(self.mismatch(column, "a number")),
        }
    }

    pub(crate) fn f32(&self, column: usize) -> Result<f32> {
        Ok(self.f64(column)? as f32)
    }

    pub(crate) fn opt_text(&self, column: usize) -> Result<Option<String>> {
        match self.at(column)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            _ => Err(self.mismatch(column, "text")),
        }
    }

    pub(crate) fn text(&self, column: usize) -> Result<String> {
        self.opt_text(column)?.ok_or_else(|| self.mismatch(column, "text"))
    }

    pub(crate) fn opt_blob(&self, column: usize) -> Result<Option<Vec<u8>>> {
        match self.at(column)? {
            Value::Null => Ok(None),
            Value::Blob(v) => Ok(Some(v.clone())),
            _ => Err(self.mismatch(column, "bytes")),
        }
    }

    /// An embedding, as either store keeps it.
    pub(crate) fn vector(&self, column: usize) -> Result<Vec<f32>> {
        match self.at(column)? {
            Value::Vector(v) => Ok(v.clone()),
            Value::Blob(blob) => decode_vector(blob),
            _ => Err(self.mismatch(column, "an embedding")),
        }
    }
}

/// Embeddings as blobs: little-endian f32, the layout of the vector in memory on every platform
/// we run on, so reading a million of them is a copy.
pub(crate) fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Appends a decoded blob to `out` without an intermediate vector.
pub(crate) fn decode_vector_into(blob: &[u8], out: &mut Vec<f32>) {
    out.extend(blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
}

pub(crate) fn decode_vector(blob: &[u8]) -> Result<Vec<f32>> {
    if !blob.len().is_multiple_of(4) {
        return Err(GalleryError::Storage(format!("embedding blob of {} bytes is not f32s", blob.len())));
    }
    Ok(blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// A connection (inside a transaction, when writing) that runs portable SQL.
pub(crate) trait Sql {
    /// Runs a statement; returns the rows it changed.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Every row a query returns.
    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;

    fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        self.query_opt(sql, params)?.ok_or_else(|| GalleryError::Storage(format!("no row from {sql}")))
    }
}

/// `$1` → `?1`: SQLite's numbered parameters, bound by number whatever their order.
pub(crate) fn numbered_for_sqlite(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// The gallery's own statements, which both stores run as they are.
pub(crate) mod gallery {
    /// A subject row and its face count; `subject_from_row` of each backend reads it.
    pub(crate) const SUBJECT_COLUMNS: &str = "s.id, s.name, s.metadata, s.created_at, \
                                   (SELECT count(*) FROM faces g WHERE g.subject_id = s.id)";

    /// A face row without its crop; `face_from_row` of each backend reads it.
    pub(crate) const FACE_COLUMNS: &str = "f.id, f.subject_id, f.model, f.embedding, f.detection_score, \
                            f.bbox_x1, f.bbox_y1, f.bbox_x2, f.bbox_y2, f.image_sha256, f.enrolled_at, \
                            EXISTS (SELECT 1 FROM face_crops c WHERE c.face_id = f.id)";

    pub(crate) fn subject_by_id() -> String {
        format!("SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = $1 AND s.id = $2")
    }
    pub(crate) fn subject_by_name() -> String {
        format!("SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = $1 AND s.name = $2")
    }
    pub(crate) fn subjects_by_name() -> String {
        format!("SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = $1 ORDER BY s.name")
    }
    pub(crate) fn subjects_page() -> String {
        format!(
            "SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = $1 AND s.id > $2 ORDER BY s.id LIMIT $3"
        )
    }
    pub(crate) fn faces_of_subject() -> String {
        format!("SELECT {FACE_COLUMNS} FROM faces f WHERE f.subject_id = $1 ORDER BY f.id")
    }
    /// Every face with its collection, subject and crop (columns: name, subject, face, png),
    /// in face order; `$1` is the face id to start after.
    pub(crate) fn every_face_after() -> String {
        format!(
            "SELECT c.name, {SUBJECT_COLUMNS}, {FACE_COLUMNS}, (SELECT png FROM face_crops p WHERE p.face_id = f.id) \
             FROM faces f JOIN subjects s ON s.id = f.subject_id JOIN collections c ON c.id = s.collection_id \
             WHERE f.id > $1 ORDER BY f.id LIMIT $2"
        )
    }

    pub(crate) const COLLECTION_ID: &str = "SELECT id FROM collections WHERE name = $1";
    pub(crate) const COLLECTION_NAMES: &str = "SELECT name FROM collections ORDER BY id";
    pub(crate) const COUNTS: &str =
        "SELECT (SELECT count(*) FROM collections), (SELECT count(*) FROM subjects), (SELECT count(*) FROM faces)";
    pub(crate) const INSERT_COLLECTION: &str = "INSERT INTO collections (name, created_at) VALUES ($1, $2)";
    pub(crate) const INSERT_SUBJECT: &str =
        "INSERT INTO subjects (collection_id, name, metadata, created_at) VALUES ($1, $2, $3, $4) RETURNING id";
    pub(crate) const RENAME_SUBJECT: &str = "UPDATE subjects SET name = $1 WHERE id = $2";
    pub(crate) const SET_METADATA: &str = "UPDATE subjects SET metadata = $1 WHERE id = $2";
    /// Merging: the faces of an image `into` already has go, the rest move, then `from` goes.
    pub(crate) const MERGE_DROP_SHARED: &str = "DELETE FROM faces WHERE subject_id = $1 AND image_sha256 IN \
        (SELECT image_sha256 FROM faces WHERE subject_id = $2)";
    pub(crate) const MERGE_MOVE: &str = "UPDATE faces SET subject_id = $1 WHERE subject_id = $2";
    pub(crate) const DELETE_SUBJECT: &str = "DELETE FROM subjects WHERE id = $1";
    pub(crate) const DELETE_FACE: &str =
        "DELETE FROM faces WHERE id = $1 AND subject_id IN (SELECT id FROM subjects WHERE collection_id = $2)";
    pub(crate) const FACE_OF_IMAGE: &str = "SELECT id FROM faces WHERE subject_id = $1 AND image_sha256 = $2";
    pub(crate) const INSERT_CROP: &str = "INSERT INTO face_crops (face_id, png) VALUES ($1, $2)";
    /// A face row; no row comes back when the subject has a face of that image already.
    pub(crate) const INSERT_FACE: &str = "INSERT INTO faces (subject_id, model, embedding, detection_score, \
        bbox_x1, bbox_y1, bbox_x2, bbox_y2, image_sha256, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
        ON CONFLICT (subject_id, image_sha256) DO NOTHING RETURNING id";

    /// Adds a face (and its crop) to a subject inside a write, the model checked by the caller;
    /// an image the subject has already is not added twice.
    pub(crate) fn insert_face(
        sql: &dyn super::Sql,
        subject_id: crate::SubjectId,
        face: crate::NewFace,
    ) -> crate::Result<crate::AddedFace> {
        use super::Value;
        use crate::AddedFace;
        crate::checks::check_face(&face)?;
        let sha = face.image_sha256.to_ascii_lowercase();
        if let Some(row) = sql.query_opt(FACE_OF_IMAGE, params![subject_id, &sha])? {
            return Ok(AddedFace { face_id: row.i64(0)?, subject_id, duplicate: true });
        }
        let b = face.bbox;
        let values = [
            subject_id.into(),
            face.model.0.into(),
            Value::Vector(face.embedding),
            face.detection_score.into(),
            b.x1.into(),
            b.y1.into(),
            b.x2.into(),
            b.y2.into(),
            sha.into(),
            crate::checks::now().into(),
        ];
        let face_id = sql.query_one(INSERT_FACE, &values)?.i64(0)?;
        if let Some(png) = face.crop_png {
            sql.execute(INSERT_CROP, params![face_id, png])?;
        }
        Ok(AddedFace { face_id, subject_id, duplicate: false })
    }
    pub(crate) const UPDATE_EMBEDDING: &str = "UPDATE faces SET model = $1, embedding = $2 WHERE id = $3";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_for_sqlite() {
        assert_eq!(numbered_for_sqlite("SELECT $2, $10 WHERE a = $1"), "SELECT ?2, ?10 WHERE a = ?1");
    }

    #[test]
    fn vectors_round_trip_through_blobs() {
        let v = vec![0.5, -1.25, 3.0e-7];
        assert_eq!(decode_vector(&encode_vector(&v)).unwrap(), v);
        assert!(decode_vector(&[0, 1, 2]).is_err());
        assert_eq!(Row(vec![Value::Blob(encode_vector(&v))]).vector(0).unwrap(), v);
    }
}
