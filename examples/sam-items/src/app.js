// Items kept in the table the template's SimpleTable creates; the table's
// name comes from the environment (TABLE_NAME: !Ref ItemsTable).
const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");
const {
  DynamoDBDocumentClient, GetCommand, PutCommand, DeleteCommand, ScanCommand,
} = require("@aws-sdk/lib-dynamodb");

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const TableName = process.env.TABLE_NAME;

const reply = (statusCode, body) => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

exports.handler = async (event) => {
  switch (event.routeKey) {
    case "GET /items": {
      const out = await db.send(new ScanCommand({ TableName }));
      const items = out.Items.sort((a, b) => a.id.localeCompare(b.id));
      return reply(200, { greeting: process.env.GREETING, items });
    }
    case "GET /items/{id}": {
      const out = await db.send(new GetCommand({ TableName, Key: { id: event.pathParameters.id } }));
      return out.Item ? reply(200, out.Item) : reply(404, { message: "no such item" });
    }
    case "PUT /items": {
      const item = JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, "base64").toString() : event.body);
      if (typeof item.id !== "string" || item.id === "") {
        return reply(400, { message: "an item needs a string id" });
      }
      await db.send(new PutCommand({ TableName, Item: item }));
      return reply(200, { stored: item.id, table: TableName });
    }
    case "DELETE /items/{id}":
      await db.send(new DeleteCommand({ TableName, Key: { id: event.pathParameters.id } }));
      return reply(200, { deleted: event.pathParameters.id });
  }
  return reply(400, { message: `unsupported route ${event.routeKey}` });
};
