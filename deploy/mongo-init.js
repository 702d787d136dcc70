// Run by the mongo image once, on the first start with an empty data volume
// (/docker-entrypoint-initdb.d): the application's own user, limited to its database.
// Changing MONGO_PASSWORD later does not change this user; recreate the volume or use updateUser.
const dbName = process.env.MONGO_APP_DB;
db.getSiblingDB("admin").createUser({
  user: process.env.MONGO_APP_USER,
  pwd: process.env.MONGO_APP_PASSWORD,
  roles: [{ role: "readWrite", db: dbName }],
});
print(`created user ${process.env.MONGO_APP_USER} (readWrite on ${dbName})`);
