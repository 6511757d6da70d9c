package dynamodb

import (
	"errors"
	"reflect"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/tables"
)

// sameAs decodes body with the fast reader and with encoding/json and
// reports a difference: both must accept or refuse it, the same way.
func sameAs[T any, PT interface {
	*T
	fastRequest
}](t *testing.T, body []byte) {
	t.Helper()
	fast, ferr := decodeFast[T, PT](body)
	slow, serr := decode[T](body)
	if (ferr == nil) != (serr == nil) {
		t.Fatalf("%s: fast error %v, encoding/json error %v", body, ferr, serr)
	}
	if ferr != nil {
		var fe, se *tables.Error
		if errors.As(ferr, &fe) != errors.As(serr, &se) || fe != nil && fe.Kind != se.Kind {
			t.Fatalf("%s: fast error %v, encoding/json error %v", body, ferr, serr)
		}
		return
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s:\nfast %#v\njson %#v", body, fast, slow)
	}
}

var fastSeeds = []string{
	`{"TableName":"t","Item":{"pk":{"S":"a"},"n":{"N":"1.50"},"b":{"B":"AAE="},"ok":{"BOOL":true},"z":{"NULL":true}}}`,
	`{"TableName":"t","Key":{"pk":{"S":"a"}},"ConsistentRead":true,"ProjectionExpression":"#a","ExpressionAttributeNames":{"#a":"x"}}`,
	`{"TableName":"t","Key":{"pk":{"S":"a"}},"UpdateExpression":"SET a = :v","ExpressionAttributeValues":{":v":{"L":[{"S":"x"},{"M":{"k":{"NS":["1","2"]}}}]}},"ReturnValues":"ALL_NEW"}`,
	`{"TableName":"t","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"Limit":10,"ScanIndexForward":false,"ExclusiveStartKey":{"pk":{"S":"a"},"sk":{"N":"2"}}}`,
	`{"TableName":"t","Item":{"pk":{"S":"a\u00e9\n"},"s":{"SS":["a","a"]}}}`,
	`{"TableName":"t","Item":{"pk":{"S":"a","N":"1"}}}`,
	`{"TableName":"t","Item":{"pk":{}}}`,
	`{"TableName":"t","Item":{"pk":{"N":"x"}}}`,
	`{"TableName":"t","Item":{"pk":{"NULL":false}}}`,
	`{"TableName":"t","Item":{"pk":{"BS":["AA==","AQ=="]},"e":{"SS":[]}}}`,
	`{"TableName":"t","Item":null}`,
	`{"TableName":"t","tablename":"u"}`,
	`{"TableName":"t","TableName":"u"}`,
	`{"TableName":"t","Limit":1.5}`,
	`{"TableName":"t","Limit":-0,"Select":"COUNT"}`,
	`{"TableName":"t","Item":{"a":{"S":"x"},"a":{"S":"y"}}}`,
	`{"TableName":"t","Expected":{"a":{"Exists":false}},"Item":{"a":{"S":"x"}}}`,
	` {"TableName" : "t" , "Key" : { "pk" : { "S" : "a" } } } `,
	`{"TableName":"t"}x`,
	`{"TableName":"t\"<>&\u2028"}`,
	`{"TableName":"\xff"}`,
	`{}`,
	`{"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"a"},"n":{"N":"1"}}}},{"DeleteRequest":{"Key":{"pk":{"S":"b"}}}}],"u":[]},"ReturnConsumedCapacity":"TOTAL"}`,
	`{"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"a"}}},"DeleteRequest":{"Key":{"pk":{"S":"a"}}}},{}]}}`,
	`{"RequestItems":{"t":[{"PutRequest":{}},{"DeleteRequest":{"Key":{"pk":{"N":"x"}}}}]}}`,
	`{"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"a"}}},"PutRequest":{"Item":{"pk":{"S":"b"}}}}]}}`,
	`{"RequestItems":{"t":[{"putrequest":{"item":{"pk":{"S":"a"}}}}],"t":[]}}`,
	`{"RequestItems":{"t":[null,{"PutRequest":null}]},"RequestItems":{}}`,
	`{"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"a"}},"Item":{"pk":{"S":"b"}}}}]}}`,
	`{"TransactItems":[{"Put":{"TableName":"t","Item":{"pk":{"S":"a"}},"ConditionExpression":"attribute_not_exists(pk)"}},{"Update":{"TableName":"t","Key":{"pk":{"S":"b"}},"UpdateExpression":"SET #n = :v","ExpressionAttributeNames":{"#n":"n"},"ExpressionAttributeValues":{":v":{"N":"1"}},"ReturnValuesOnConditionCheckFailure":"ALL_OLD"}},{"Delete":{"TableName":"t","Key":{"pk":{"S":"c"}}}},{"ConditionCheck":{"TableName":"t","Key":{"pk":{"S":"d"}},"ConditionExpression":"attribute_exists(pk)"}}],"ClientRequestToken":"tok","ReturnConsumedCapacity":"INDEXES"}`,
	`{"TransactItems":[{"Put":{"TableName":"t","Item":{"pk":{"S":"a"}},"Key":{"pk":{"S":"a"}}}},{}]}`,
	`{"TransactItems":[{"Put":{"TableName":"t"},"Delete":{"TableName":"u","Key":{}}}],"TransactItems":[]}`,
	`{"TransactItems":[{"Update":{"TableName":"t","TableName":"u","UpdateExpression":"SET a = :a"}}]}`,
	`{"TransactItems":[{"put":{"tablename":"t","item":{"pk":{"S":"a"}}}},{"Put":null}]}`,
	`{"TransactItems":[{"Delete":{"TableName":"t","Key":{"pk":{"NULL":false}},"UpdateExpression":"x"}}]}`,
	`{"TransactItems":[]}`,
	`{"RequestItems":{"t":{"Keys":[{"pk":{"S":"a"}},{"pk":{"S":"b"},"sk":{"N":"1"}}],"ProjectionExpression":"#a, b","ExpressionAttributeNames":{"#a":"a"},"ConsistentRead":true},"u":{"Keys":[]}},"ReturnConsumedCapacity":"TOTAL"}`,
	`{"RequestItems":{"t":{"Keys":[{"pk":{"S":"a"}}],"AttributesToGet":["a"]}}}`,
	`{"RequestItems":{"t":{"Keys":[{"pk":{"N":"x"}}],"Keys":[]},"t":{}}}`,
	`{"RequestItems":{"t":{"keys":[{"pk":{"S":"a"}}],"ConsistentRead":1}}}`,
	`{"RequestItems":{"t":{"Keys":[null,{"pk":{"S":"a"}}]},"u":null}}`,
	`{"TransactItems":[{"Get":{"TableName":"t","Key":{"pk":{"S":"a"},"sk":{"N":"1"}},"ProjectionExpression":"#a, b","ExpressionAttributeNames":{"#a":"a"}}},{"Get":{"TableName":"u","Key":{"pk":{"B":"AAE="}}}}],"ReturnConsumedCapacity":"TOTAL"}`,
	`{"TransactItems":[{"Get":{"TableName":"t","Key":{"pk":{"S":"a"}}},"Get":{"TableName":"u"}},{}]}`,
	`{"TransactItems":[{"Get":{"TableName":"t","TableName":"u","Key":{"pk":{"N":"x"}}}}]}`,
	`{"TransactItems":[{"get":{"tablename":"t","key":{"pk":{"S":"a"}}}},{"Get":null}],"TransactItems":[]}`,
	`{"TransactItems":[{"Get":{"TableName":"t","Key":{"pk":{"S":"a"}},"ConsistentRead":true}}]}`,
	`{"TransactItems":[{"Get":{"TableName":"t","Key":{"pk":{"SS":[]}}}},null]}`,
}

func TestFastDecodeSeeds(t *testing.T) {
	for _, s := range fastSeeds {
		checkAllRequests(t, []byte(s))
	}
}

func checkAllRequests(t *testing.T, body []byte) {
	sameAs[putItemIn](t, body)
	sameAs[getItemIn](t, body)
	sameAs[deleteItemIn](t, body)
	sameAs[updateItemIn](t, body)
	sameAs[queryIn](t, body)
	sameAs[batchWriteIn](t, body)
	sameAs[transactWriteIn](t, body)
	sameAs[batchGetIn](t, body)
	sameAs[transactGetIn](t, body)
}

// FuzzFastDecode: the fast reader and encoding/json accept and refuse the
// same requests and read accepted ones the same.
func FuzzFastDecode(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAllRequests(t, body)
	})
}

// The requests the SDKs send for the hot operations take the fast reader
// (were it to decline them, every request would silently pay for both).
func TestFastReaderTakesSDKRequests(t *testing.T) {
	put := []byte(`{"Item":{"data":{"S":"xxxx"},"pk":{"S":"k1"},"n":{"N":"12"},"m":{"M":{"l":{"L":[{"BOOL":true},{"NULL":true}]}}}},"TableName":"kv"}`)
	if v, err, ok := readFast[putItemIn](put); !ok || err != nil || v.Item["pk"].S != "k1" || v.Item["n"].S != "12" {
		t.Fatalf("PutItem: ok %v, err %v, %+v", ok, err, v)
	}
	get := []byte(`{"ConsistentRead":true,"Key":{"pk":{"S":"k1"}},"TableName":"kv"}`)
	if v, err, ok := readFast[getItemIn](get); !ok || err != nil || !v.ConsistentRead || v.Key["pk"].S != "k1" {
		t.Fatalf("GetItem: ok %v, err %v, %+v", ok, err, v)
	}
	query := []byte(`{"ExpressionAttributeValues":{":p":{"S":"p1"}},"KeyConditionExpression":"pk = :p","Limit":100,"ScanIndexForward":false,"TableName":"series"}`)
	if v, err, ok := readFast[queryIn](query); !ok || err != nil || *v.Limit != 100 || *v.ScanIndexForward || v.ExpressionAttributeValues[":p"].S != "p1" {
		t.Fatalf("Query: ok %v, err %v, %+v", ok, err, v)
	}
	batch := []byte(`{"RequestItems":{"series":[{"PutRequest":{"Item":{"data":{"S":"yy"},"pk":{"S":"p0"},"sk":{"N":"0"}}}},{"DeleteRequest":{"Key":{"pk":{"S":"p0"},"sk":{"N":"1"}}}}]}}`)
	if v, err, ok := readFast[batchWriteIn](batch); !ok || err != nil || len(v.RequestItems["series"]) != 2 || v.RequestItems["series"][1].DeleteRequest.Key["sk"].S != "1" {
		t.Fatalf("BatchWriteItem: ok %v, err %v, %+v", ok, err, v)
	}
	tx := []byte(`{"ClientRequestToken":"c1","TransactItems":[{"Put":{"Item":{"data":{"S":"x"},"pk":{"S":"tx-1-0"}},"TableName":"kv"}},{"Update":{"ExpressionAttributeValues":{":v":{"N":"1"}},"Key":{"pk":{"S":"k"}},"TableName":"kv","UpdateExpression":"ADD n :v"}}]}`)
	if v, err, ok := readFast[transactWriteIn](tx); !ok || err != nil || len(v.TransactItems) != 2 || v.TransactItems[0].Put.Item["pk"].S != "tx-1-0" || v.TransactItems[1].Update.UpdateExpression != "ADD n :v" {
		t.Fatalf("TransactWriteItems: ok %v, err %v, %+v", ok, err, v)
	}
	bget := []byte(`{"RequestItems":{"kv":{"ConsistentRead":true,"Keys":[{"pk":{"S":"k1"}},{"pk":{"S":"k2"}}],"ProjectionExpression":"pk"}}}`)
	if v, err, ok := readFast[batchGetIn](bget); !ok || err != nil || len(v.RequestItems["kv"].Keys) != 2 || !v.RequestItems["kv"].ConsistentRead {
		t.Fatalf("BatchGetItem: ok %v, err %v, %+v", ok, err, v)
	}
	tget := []byte(`{"TransactItems":[{"Get":{"Key":{"pk":{"S":"k1"}},"TableName":"kv"}},{"Get":{"Key":{"pk":{"S":"k2"}},"ProjectionExpression":"pk","TableName":"kv"}}]}`)
	if v, err, ok := readFast[transactGetIn](tget); !ok || err != nil || len(v.TransactItems) != 2 || v.TransactItems[1].Get.Key["pk"].S != "k2" || v.TransactItems[1].Get.ProjectionExpression != "pk" {
		t.Fatalf("TransactGetItems: ok %v, err %v, %+v", ok, err, v)
	}
	if _, _, ok := readFast[putItemIn]([]byte(`{"TableName":"kv","Expected":{}}`)); ok {
		t.Fatal("a legacy parameter was taken by the fast reader")
	}
}
