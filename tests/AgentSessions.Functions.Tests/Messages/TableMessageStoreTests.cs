using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Tests.Infrastructure;
using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions.Tests.Messages;

/// <summary><see cref="TableMessageStore"/> against a real Azurite; every test uses a table of its own.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class TableMessageStoreTests(AzuriteFixture azurite)
{
    private static readonly DateTimeOffset T0 = new(2025, 10, 5, 18, 4, 34, 281, TimeSpan.Zero);

    [Fact]
    public async Task Append_then_read_round_trips_string_and_object_content_metadata_and_timestamp()
    {
        var (store, _) = NewStore();
        var key = NewSessionKey();
        var messages = new[]
        {
            new SessionMessage(1, MessageTypes.User, Json("\"Find me a flight to Lisbon \\\"tomorrow\\\" — ✈️\""), T0, Json("{}")),
            new SessionMessage(2, MessageTypes.Thought, Json("{\"text\":\"thinking\",\"step\":3,\"nested\":{\"list\":[1,2.5,null,true,\"é\"]}}"),
                T0.AddMilliseconds(7), Json("{\"step\":3,\"reason\":null}")),
            new SessionMessage(3, MessageTypes.Question, Json("\"\""), new DateTimeOffset(2025, 10, 5, 20, 4, 35, 999, TimeSpan.FromHours(2)),
                Json("{\"a\":[{\"b\":\"c\"}]}")),
        };

        await store.AppendAsync(key, messages);
        var read = await store.ReadAsync(key, 0, 100);

        AssertSameMessages(messages, read);
        Assert.Equal(JsonValueKind.String, read[0].Content.ValueKind);
        Assert.Equal("Find me a flight to Lisbon \"tomorrow\" — ✈️", read[0].Content.GetString());
        Assert.Equal(JsonValueKind.Object, read[1].Content.ValueKind);
        Assert.Equal(3, read[1].Metadata.GetProperty("step").GetInt32());
        Assert.Equal(281, read[0].Timestamp.Millisecond);
        Assert.Equal(TimeSpan.FromHours(2), read[2].Timestamp.Offset);
    }

    [Fact]
    public async Task Reappending_the_same_messages_is_idempotent()
    {
        var (store, table) = NewStore();
        var key = NewSessionKey();
        var all = Enumerable.Range(1, 15).Select(i => Message(i, $"\"message {i}\"")).ToList();

        await store.AppendAsync(key, all.Take(10).ToList());
        await store.AppendAsync(key, all.Take(10).ToList());      // activity retried
        await store.AppendAsync(key, all.Skip(4).ToList());       // replay overlapping what is stored
        await store.AppendAsync(key, all.Skip(12).Reverse().ToList()); // order of the input does not matter

        AssertSameMessages(all, await store.ReadAsync(key, 0, 1000));
        Assert.Equal(15, await CountRowsAsync(table, key));
    }

    [Fact]
    public async Task Paging_with_after_id_visits_every_message_once_in_order()
    {
        var (store, _) = NewStore();
        var key = NewSessionKey();
        var all = Enumerable.Range(1, 250).Select(i => Message(i, i % 2 == 0 ? $"\"m{i}\"" : $"{{\"n\":{i}}}")).ToList();
        await store.AppendAsync(key, all); // 3 transactions

        var seen = new List<SessionMessage>();
        var afterId = 0L;
        var pages = 0;
        while (true)
        {
            var page = await store.ReadAsync(key, afterId, 40);
            if (page.Count == 0)
            {
                break;
            }

            Assert.True(page.Count <= 40);
            pages++;
            seen.AddRange(page);
            afterId = page[^1].Id;
        }

        Assert.Equal(7, pages);
        AssertSameMessages(all, seen);
        Assert.Empty(await store.ReadAsync(key, 250, 40));
        Assert.Equal([201L, 202L, 203L], (await store.ReadAsync(key, 200, 3)).Select(m => m.Id));
    }

    [Fact]
    public async Task Ids_need_not_be_contiguous()
    {
        var (store, _) = NewStore();
        var key = NewSessionKey();
        var all = new long[] { 2, 3, 10, 11, 99, 100, 1000 }.Select(id => Message(id, $"\"{id}\"")).ToList();
        await store.AppendAsync(key, all);

        Assert.Equal([10L, 11L, 99L], (await store.ReadAsync(key, 3, 3)).Select(m => m.Id));
        Assert.Equal([1000L], (await store.ReadAsync(key, 100, 3)).Select(m => m.Id));
        Assert.Equal([2L], (await store.ReadAsync(key, -5, 1)).Select(m => m.Id));
        Assert.Empty(await store.ReadAsync(key, 0, 0));
    }

    [Theory]
    [InlineData(256 * 1024, false)]
    [InlineData(256 * 1024, true)]
    [InlineData(1024 * 1024, false)]
    [InlineData(1024 * 1024, true)]
    [InlineData(3 * 1024 * 1024, true)]
    public async Task Large_content_is_stored_and_read_back_byte_identical(int utf8Bytes, bool asObject)
    {
        var (store, table) = NewStore();
        var key = NewSessionKey();
        var content = asObject ? LargeObject(utf8Bytes, seed: utf8Bytes) : LargeString(utf8Bytes, seed: utf8Bytes);
        Assert.True(Encoding.UTF8.GetByteCount(content) >= utf8Bytes);
        var messages = new[]
        {
            Message(1, "\"before\""),
            new SessionMessage(2, MessageTypes.Done, Json(content), T0, Json("{\"size\":\"large\"}")),
            Message(3, "\"after\""),
        };

        await store.AppendAsync(key, messages);

        AssertSameMessages(messages, await store.ReadAsync(key, 0, 10));
        // The large message alone, as the first and as the last of a page.
        AssertSameMessages(messages[1..2], await store.ReadAsync(key, 1, 1));
        AssertSameMessages(messages[..2], await store.ReadAsync(key, 0, 2));
        AssertSameMessages(messages[2..], await store.ReadAsync(key, 2, 10));
        await AssertRowsFitAzureLimitsAsync(table, key);
    }

    [Fact]
    public async Task A_message_with_a_missing_part_fails_the_read_instead_of_coming_back_truncated()
    {
        var (store, table) = NewStore();
        var key = NewSessionKey();
        await store.AppendAsync(key, [new SessionMessage(1, MessageTypes.Done, Json(LargeString(1024 * 1024, seed: 7)), T0, Json("{}"))]);
        var partKeys = new List<string>();
        await foreach (var row in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {key}"), select: ["RowKey"]))
        {
            partKeys.Add(row.RowKey);
        }

        Assert.Contains("0000000000000000001.001", partKeys);
        await table.DeleteEntityAsync(key, partKeys[^1]);

        await Assert.ThrowsAsync<InvalidDataException>(() => store.ReadAsync(key, 0, 10));
    }

    [Fact]
    public async Task Surrogate_pairs_across_chunk_boundaries_and_large_metadata_survive()
    {
        var (store, _) = NewStore();
        var key = NewSessionKey();
        // Raw text: quote, 'a', 'b', then emoji pairs whose high surrogates sit at odd indexes, 29,999 among them.
        var emoji = "\"ab" + string.Concat(Enumerable.Repeat("😀", 40_000)) + "\"";
        var metadata = "{\"trace\":\"" + string.Concat(Enumerable.Repeat("𝄞x", 60_000)) + "\",\"n\":1}";
        var messages = new[] { new SessionMessage(1, MessageTypes.Log, Json(emoji), T0, Json(metadata)) };

        await store.AppendAsync(key, messages);

        AssertSameMessages(messages, await store.ReadAsync(key, 0, 10));
    }

    [Fact]
    public async Task Content_that_is_all_escapes_on_the_wire_survives()
    {
        var (store, table) = NewStore();
        var key = NewSessionKey();
        // 400,000 chars: 1.2 MB of UTF-8, but 2.4 MB as the escaped JSON the SDK sends.
        var content = "\"" + new string('中', 400_000) + "\"";
        var messages = new[] { new SessionMessage(1, MessageTypes.Done, Json(content), T0, Json("{}")), Message(2, "\"next\"") };

        await store.AppendAsync(key, messages);

        AssertSameMessages(messages, await store.ReadAsync(key, 0, 10));
        Assert.True(await CountRowsAsync(table, key) > 3);
        await AssertRowsFitAzureLimitsAsync(table, key);
    }

    [Fact]
    public async Task Sessions_are_isolated_from_each_other()
    {
        var (store, _) = NewStore();
        var alice = NewSessionKey("alice");
        var bob = NewSessionKey("bob");
        var aliceMessages = Enumerable.Range(1, 5).Select(i => Message(i, $"\"alice {i}\"")).ToList();
        var bobMessages = Enumerable.Range(1, 3).Select(i => Message(i, $"\"bob {i}\"")).ToList();

        await store.AppendAsync(alice, aliceMessages);
        await store.AppendAsync(bob, bobMessages);

        AssertSameMessages(aliceMessages, await store.ReadAsync(alice, 0, 100));
        AssertSameMessages(bobMessages, await store.ReadAsync(bob, 0, 100));
        AssertSameMessages(aliceMessages.Skip(3).ToList(), await store.ReadAsync(alice, 3, 100));
        Assert.Empty(await store.ReadAsync(bob, 3, 100));
    }

    [Fact]
    public async Task Delete_removes_only_that_sessions_rows()
    {
        var (store, table) = NewStore();
        var doomed = NewSessionKey("alice");
        var sameOwner = NewSessionKey("alice");
        var otherOwner = NewSessionKey("bob");
        var many = Enumerable.Range(1, 230).Select(i => Message(i, $"\"m{i}\"")).ToList();
        many.Add(new SessionMessage(231, MessageTypes.Done, Json(LargeString(1024 * 1024, seed: 1)), T0, Json("{}"))); // overflow rows too
        var few = Enumerable.Range(1, 4).Select(i => Message(i, $"\"keep {i}\"")).ToList();

        await store.AppendAsync(doomed, many);
        await store.AppendAsync(sameOwner, few);
        await store.AppendAsync(otherOwner, few);
        Assert.True(await CountRowsAsync(table, doomed) > 231);

        await store.DeleteSessionAsync(doomed);

        Assert.Equal(0, await CountRowsAsync(table, doomed));
        Assert.Empty(await store.ReadAsync(doomed, 0, 100));
        AssertSameMessages(few, await store.ReadAsync(sameOwner, 0, 100));
        AssertSameMessages(few, await store.ReadAsync(otherOwner, 0, 100));

        await store.DeleteSessionAsync(doomed); // deleting again is harmless
        await store.AppendAsync(doomed, few);   // and the key can be used again
        AssertSameMessages(few, await store.ReadAsync(doomed, 0, 100));
    }

    [Fact]
    public async Task Unknown_session_reads_empty_and_deletes_quietly_even_before_the_table_exists()
    {
        var (store, _) = NewStore();
        var key = NewSessionKey();

        Assert.Empty(await store.ReadAsync(key, 0, 100));
        await store.DeleteSessionAsync(NewSessionKey());
        await store.AppendAsync(key, [Message(1, "\"hello\"")]);
        Assert.Empty(await store.ReadAsync(NewSessionKey(), 0, 100));
    }

    [Fact]
    public async Task Invalid_arguments_are_rejected()
    {
        var (store, _) = NewStore();
        await Assert.ThrowsAsync<ArgumentException>(() => store.ReadAsync("alice/x", 0, 10));
        await Assert.ThrowsAsync<ArgumentException>(() => store.ReadAsync("", 0, 10));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ReadAsync(NewSessionKey(), 0, -1));
        await Assert.ThrowsAsync<ArgumentException>(() => store.AppendAsync(NewSessionKey(), [Message(0, "\"zero\"")]));
        await Assert.ThrowsAsync<ArgumentException>(() => store.AppendAsync(NewSessionKey(), [Message(1, "\"a\""), Message(1, "\"b\"")]));
        Assert.Throws<ArgumentException>(() => new TableMessageStore(azurite.ConnectionString, "bad-name"));
    }

    [Fact]
    public async Task AddTableMessageStore_registers_a_working_store()
    {
        var tableName = NewTableName();
        using var provider = new ServiceCollection()
            .AddTableMessageStore(new TableServiceClient(azurite.ConnectionString), options => options.TableName = tableName)
            .BuildServiceProvider();
        var store = provider.GetRequiredService<IMessageStore>();
        var key = NewSessionKey();
        var messages = new[] { Message(1, "\"via DI\"") };

        await store.AppendAsync(key, messages);

        AssertSameMessages(messages, await store.ReadAsync(key, 0, 10));
        Assert.Equal(tableName, Assert.IsType<TableMessageStore>(store).TableName);
        Assert.Equal(MessageStoreOptions.DefaultTableName, new MessageStoreOptions().TableName);
    }

    private (TableMessageStore Store, TableClient Table) NewStore()
    {
        var table = new TableClient(azurite.ConnectionString, NewTableName());
        return (new TableMessageStore(table), table);
    }

    private static string NewTableName() => "Msg" + Guid.NewGuid().ToString("N");

    private static string NewSessionKey(string owner = "alice") => $"{owner}:{Guid.NewGuid()}";

    private static SessionMessage Message(long id, string contentJson) =>
        new(id, MessageTypes.Thought, Json(contentJson), T0.AddMilliseconds(id), Json($"{{\"step\":{id}}}"));

    private static JsonElement Json(string text)
    {
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    private static async Task<int> CountRowsAsync(TableClient table, string sessionKey)
    {
        var count = 0;
        await foreach (var _ in table.QueryAsync<TableEntity>(
            TableClient.CreateQueryFilter($"PartitionKey eq {sessionKey}"), select: ["RowKey"]))
        {
            count++;
        }

        return count;
    }

    /// <summary>
    /// Azurite checks the 1 MiB entity limit on the JSON it receives; Azure counts stored size. Check that too:
    /// 4 + 2·len(PartitionKey + RowKey) + per property 8 + 2·len(name) + value (string: 4 + 2·len), and 32 Ki chars a string.
    /// </summary>
    private static async Task AssertRowsFitAzureLimitsAsync(TableClient table, string sessionKey)
    {
        await foreach (var row in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {sessionKey}")))
        {
            long size = 4 + (2 * (row.PartitionKey.Length + row.RowKey.Length));
            foreach (var (name, value) in row)
            {
                if (name is "PartitionKey" or "RowKey" or "Timestamp" or "odata.etag")
                {
                    continue;
                }

                size += 8 + (2 * name.Length) + value switch
                {
                    string text => 4 + (2 * text.Length),
                    _ => 8,
                };
                if (value is string s)
                {
                    Assert.True(s.Length <= 32 * 1024, $"{row.RowKey}.{name} has {s.Length} chars");
                }
            }

            Assert.True(size <= 1024 * 1024, $"{row.RowKey} would take {size} bytes in Azure");
            Assert.True(row.Count <= 255, $"{row.RowKey} has {row.Count} properties");
        }
    }

    private static void AssertSameMessages(IReadOnlyList<SessionMessage> expected, IReadOnlyList<SessionMessage> actual)
    {
        Assert.Equal(expected.Select(m => m.Id), actual.Select(m => m.Id));
        for (var i = 0; i < expected.Count; i++)
        {
            var (e, a) = (expected[i], actual[i]);
            Assert.Equal(e.Type, a.Type);
            Assert.Equal(e.Timestamp, a.Timestamp);
            Assert.Equal(e.Timestamp.Offset, a.Timestamp.Offset);
            Assert.Equal(e.Content.ValueKind, a.Content.ValueKind);
            AssertSameJsonBytes(e.Content, a.Content);
            AssertSameJsonBytes(e.Metadata, a.Metadata);
        }
    }

    private static void AssertSameJsonBytes(JsonElement expected, JsonElement actual)
    {
        var expectedBytes = Encoding.UTF8.GetBytes(expected.GetRawText());
        var actualBytes = Encoding.UTF8.GetBytes(actual.GetRawText());
        Assert.Equal(expectedBytes.Length, actualBytes.Length);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(expectedBytes)), Convert.ToHexString(SHA256.HashData(actualBytes)));
    }

    private static readonly string[] Pieces =
    [
        "lorem ipsum ", "\\\"quoted\\\" ", "back\\\\slash ", "line\\nbreak ", "tab\\t", "café ", "中文字符 ", "😀", "𝄞",
        "\\u00e9\\u4e2d ", "<tag attr='x'>&amp;</tag> ", "+1 ", "0123456789",
    ];

    /// <summary>A JSON string literal of at least <paramref name="utf8Bytes"/> UTF-8 bytes, with escapes and non-ASCII text.</summary>
    private static string LargeString(int utf8Bytes, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder("\"");
        var bytes = 1;
        while (bytes < utf8Bytes)
        {
            var piece = Pieces[random.Next(Pieces.Length)];
            text.Append(piece);
            bytes += Encoding.UTF8.GetByteCount(piece);
        }

        return text.Append('"').ToString();
    }

    /// <summary>A JSON object of at least <paramref name="utf8Bytes"/> UTF-8 bytes: a long string and many small items.</summary>
    private static string LargeObject(int utf8Bytes, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder("{\"summary\":");
        text.Append(LargeString(utf8Bytes / 2, seed));
        text.Append(",\"items\":[");
        var first = true;
        while (Encoding.UTF8.GetByteCount(text.ToString()) < utf8Bytes)
        {
            for (var i = 0; i < 500; i++)
            {
                text.Append(first ? "" : ",")
                    .Append("{\"n\":").Append(random.Next()).Append(",\"ok\":").Append(random.Next(2) == 0 ? "true" : "false")
                    .Append(",\"s\":\"").Append(Pieces[random.Next(Pieces.Length)]).Append("\",\"x\":null, \"f\": 1.5e3}");
                first = false;
            }
        }

        return text.Append("]}").ToString();
    }
}
