//! [`Sql`] on a pooled PostgreSQL connection: each statement runs to completion on the client's
//! runtime, so code written once for both stores can stay blocking.

use std::error::Error;

use bytes::BytesMut;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::PgGallery;
use super::connect::classify;
use crate::Result;
use crate::sql::{Row, Sql, Value};

type BoxError = Box<dyn Error + Sync + Send>;

impl ToSql for Value {
    /// Converted to the column's type: `REAL` takes an f32, `INTEGER` an i32, `JSONB` parsed
    /// text, `vector` a pgvector.
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match (self, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Int(v), &Type::INT8) => v.to_sql(ty, out),
            (Value::Int(v), &Type::INT4) => i32::try_from(*v)?.to_sql(ty, out),
            (Value::Int(v), &Type::INT2) => i16::try_from(*v)?.to_sql(ty, out),
            (Value::Int(v), &Type::BOOL) => (*v != 0).to_sql(ty, out),
            (Value::Int(v), &Type::FLOAT8) => (*v as f64).to_sql(ty, out),
            (Value::Real(v), &Type::FLOAT8) => v.to_sql(ty, out),
            (Value::Real(v), &Type::FLOAT4) => (*v as f32).to_sql(ty, out),
            (Value::Text(v), &Type::JSONB | &Type::JSON) => {
                serde_json::from_str::<serde_json::Value>(v)?.to_sql(ty, out)
            }
            (Value::Text(v), _) => v.to_sql(ty, out),
            (Value::Blob(v), _) => v.to_sql(ty, out),
            (Value::Vector(v), _) => pgvector::Vector::from(v.clone()).to_sql(ty, out),
            (value, ty) => Err(format!("{value:?} does not fit a column of type {ty}").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(Vec::<u8>::from_sql(ty, raw)?),
            Type::JSONB | Type::JSON => Value::Text(serde_json::Value::from_sql(ty, raw)?.to_string()),
            _ if ty.name() == "vector" => Value::Vector(pgvector::Vector::from_sql(ty, raw)?.to_vec()),
            _ => Value::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// One pooled connection of a gallery, as [`Sql`].
pub(crate) struct PgSql<'a> {
    pub(crate) gallery: &'a PgGallery,
    pub(crate) client: &'a deadpool_postgres::Object,
}

impl PgSql<'_> {
    fn run<T>(&self, work: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>) -> Result<T> {
        self.gallery.block(async { work.await.map_err(|e| classify(&self.gallery.location, &e)) })
    }
}

impl Sql for PgSql<'_> {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.run(async {
            let statement = self.client.prepare_cached(sql).await?;
            self.client.execute(&statement, &params).await
        })
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.run(async {
            let statement = self.client.prepare_cached(sql).await?;
            self.client.query(&statement, &params).await
        })?;
        rows.iter()
            .map(|row| {
                let values = (0..row.len()).map(|i| row.try_get::<_, Value>(i)).collect::<std::result::Result<_, _>>();
                values.map(Row).map_err(|e| classify(&self.gallery.location, &e))
            })
            .collect()
    }
}
