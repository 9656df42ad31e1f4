package router

import "strings"

// BuiltinFunctionNames returns the names of one built-in list, for the
// catalog test: "pg" (pg_catalog functions), "pg-reviewed", "mysql" or
// "mariadb".
func BuiltinFunctionNames(list string) []string {
	return strings.Fields(map[string]string{
		"pg": pgCatalogFuncs, "pg-reviewed": pgReviewedFuncs, "mysql": mysqlFuncs, "mariadb": mariaFuncs,
	}[list])
}
