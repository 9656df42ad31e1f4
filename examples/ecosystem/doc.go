// Package ecosystem shows, in its tests and examples, that the *sql.DB a
// replica.DB returns from SQLDB works unchanged with sqlx, GORM, bun, ent,
// goose, otelsql and sqlc-generated code.
package ecosystem
