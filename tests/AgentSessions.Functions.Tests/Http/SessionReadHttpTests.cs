using System.Text.Json;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

public abstract class SessionReadHttpTests(AzuriteFixture azurite) : HostedHttpTests(azurite)
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : SessionReadHttpTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : SessionReadHttpTests(azurite)
    {
    }


    [Fact]
    public async Task Get_ReturnsTheSameObjectAsCreate()
    {
        var created = (await Alice.CreateAsync("""{"agent_name":"agi-0"}""")).Expect(201);
        var id = created.String("session_id");

        var get = (await Alice.GetAsync(id)).Expect(200);

        Assert.Equal(created.Raw, get.Raw);
    }

    [Fact]
    public async Task Get_WithGoal_ShowsGoalAndLiveStatus()
    {
        var created = (await Alice.CreateAsync(JsonSerializer.Serialize(new { goal = SessionsApi.ShortGoal }))).Expect(201);
        var id = created.String("session_id");

        await Alice.WaitForStatusAsync(id, "finished");
        var get = (await Alice.GetAsync(id)).Expect(200);

        Assert.Equal(["agent_name", "created_at", "goal", "session_id", "status", "vnc_url"],
            get.Json.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(id, get.String("session_id"));
        Assert.Equal(SessionsApi.ShortGoal, get.String("goal"));
        Assert.Equal("finished", get.String("status"));
        Assert.Equal(created.String("created_at"), get.String("created_at"));
        Assert.Equal(JsonValueKind.Null, get.Json.GetProperty("vnc_url").ValueKind);
    }

    [Fact]
    public async Task Status_IsExactlyTheStatusObject()
    {
        var id = await Alice.CreateIdAsync();
        var answer = (await Alice.StatusAsync(id)).Expect(200);
        Assert.Equal("""{"status":"ready"}""", answer.Raw);
    }

    [Fact]
    public async Task List_IsABareArrayOfSummaries_NewestFirst()
    {
        var ids = new List<string>();
        var createdAt = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var created = (await Alice.CreateAsync(i % 2 == 0 ? "{}" : JsonSerializer.Serialize(new { goal = SessionsApi.LongGoal })))
                .Expect(201);
            ids.Add(created.String("session_id"));
            createdAt.Add(created.String("created_at"));

            // The next session must be strictly newer for "newest first" to have one answer.
            await Eventually.ValueAsync(() => Task.FromResult(WireTime.Format(DateTimeOffset.UtcNow)),
                now => string.CompareOrdinal(now, created.String("created_at")) > 0, null, "the clock to move on");
        }

        var list = (await Alice.ListAsync()).Expect(200);

        Assert.Equal(JsonValueKind.Array, list.Json.ValueKind);
        var items = list.Json.EnumerateArray().ToList();
        Assert.Equal(Enumerable.Reverse(ids).ToArray(), items.Select(s => s.GetProperty("session_id").GetString()!).ToArray());
        foreach (var item in items)
        {
            Assert.Equal(["agent_name", "created_at", "session_id", "status"],
                item.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray());
            Assert.Equal("agi-0", item.GetProperty("agent_name").GetString());
            Assert.Matches(SessionsApi.WireTime(), item.GetProperty("created_at").GetString()!);
            Assert.Contains(item.GetProperty("status").GetString()!, SessionsApi.Statuses);
        }

        Assert.Equal(Enumerable.Reverse(createdAt).ToArray(), items.Select(s => s.GetProperty("created_at").GetString()!).ToArray());
        Assert.Equal("ready", items[^1].GetProperty("status").GetString());
        Assert.Equal("running", items[^2].GetProperty("status").GetString());
    }

    [Fact]
    public async Task List_MoreSessionsThanOneQueryPage_AllListed()
    {
        // The gateway pages its instance query 200 at a time.
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 230; i++)
        {
            ids.Add(await Alice.CreateIdAsync());
        }

        var list = (await Alice.ListAsync()).Expect(200);
        var listed = list.Json.EnumerateArray().Select(s => s.GetProperty("session_id").GetString()!).ToList();
        Assert.Equal(ids.Count, listed.Count);
        Assert.True(ids.SetEquals(listed));
        var createdAt = list.Json.EnumerateArray().Select(s => s.GetProperty("created_at").GetString()!).ToList();
        Assert.Equal(createdAt.OrderDescending(StringComparer.Ordinal).ToList(), createdAt);
    }

    [Fact]
    public async Task List_NoSessions_EmptyArray()
    {
        var list = (await Alice.ListAsync()).Expect(200);
        Assert.Equal("[]", list.Raw);
    }

    public static TheoryData<string> MalformedIds() =>
    [
        "abc",
        "",
        " ",
        "00000000-0000-0000-0000-00000000000g",
        "0000000000000000000000000000000",
        "{00000000-0000-0000-0000-000000000000}",
        "(00000000-0000-0000-0000-000000000000)",
        "00000000000000000000000000000000",
        "../../etc/passwd",
        "alice:00000000-0000-0000-0000-000000000000",
        "%00",
        new string('a', 5000),
    ];

    [Theory]
    [MemberData(nameof(MalformedIds))]
    public async Task MalformedId_404OnReadsAndCommands_DeleteNotFound(string id)
    {
        // The route value as the functions receive it: called directly, because over HTTP several of these never
        // reach them ("" and " " are other routes, "../" is resolved by the client, a NUL in the path is Kestrel's 400).
        var direct = new SessionsApi(Host, "Bearer " + SessionTestHost.AliceKey);
        var unknown = (await direct.GetAsync(Guid.NewGuid().ToString("D"))).ExpectError(404);

        foreach (var endpoint in new[] { "get", "status", "pause", "resume", "cancel", "message", "messages" })
        {
            var answer = await direct.InvokeAsync(endpoint, id);
            Assert.True(answer.Status == 404, $"{endpoint} '{id}': {answer}");
            answer.ExpectError(404);
            Assert.Equal(unknown.Raw, answer.Raw);
        }

        var delete = (await direct.DeleteAsync(id)).Expect(200);
        Assert.Equal("""{"success":true,"deleted":false,"message":"Session not found"}""", delete.Raw);
    }

    [Fact]
    public async Task UppercaseId_IsNever500()
    {
        var id = await Alice.CreateIdAsync();
        foreach (var variant in new[] { id.ToUpperInvariant(), char.ToUpperInvariant(id[0]) + id[1..] })
        {
            foreach (var endpoint in new[] { "get", "status", "messages", "pause" })
            {
                var answer = await Alice.InvokeAsync(endpoint, variant);
                Assert.True(answer.Status is 200 or 404 or 409, $"{endpoint} '{variant}': {answer}");
                if (answer.Status == 200 && endpoint == "get")
                {
                    // Found under its canonical form: ids on the wire stay lowercase.
                    Assert.Equal(id, answer.String("session_id"));
                }
            }
        }
    }

    [Fact]
    public async Task UnknownId_404WithErrorBody()
    {
        var answer = (await Alice.GetAsync(Guid.NewGuid().ToString("D"))).ExpectError(404);
        Assert.Equal("not_found", answer.String("error"));
    }
}
