//! [`Sql`] on an SQLite connection (or a transaction, which derefs to one).

use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::Result;
use crate::sql::{Row, Sql, Value, encode_vector, numbered_for_sqlite};

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as Owned;
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(Owned::Null),
            Value::Int(v) => ToSqlOutput::Owned(Owned::Integer(*v)),
            Value::Real(v) => ToSqlOutput::Owned(Owned::Real(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Value::Vector(v) => ToSqlOutput::Owned(Owned::Blob(encode_vector(v))),
        })
    }
}

fn value_of(column: ValueRef<'_>) -> rusqlite::Result<Value> {
    Ok(match column {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Int(v),
        ValueRef::Real(v) => Value::Real(v),
        ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => Value::Blob(v.to_vec()),
    })
}

impl Sql for Connection {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut statement = self.prepare_cached(&numbered_for_sqlite(sql))?;
        Ok(statement.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut statement = self.prepare_cached(&numbered_for_sqlite(sql))?;
        let columns = statement.column_count();
        let mut rows = statement.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..columns).map(|i| value_of(row.get_ref(i)?)).collect::<rusqlite::Result<_>>()?;
            out.push(Row(values));
        }
        Ok(out)
    }
}
