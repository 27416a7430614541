using System.Text.Json;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

public abstract class MessageHttpTests(AzuriteFixture azurite) : IAsyncLifetime
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : MessageHttpTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : MessageHttpTests(azurite)
    {
    }

    private static readonly string[] MessageTypeNames = ["THOUGHT", "QUESTION", "USER", "DONE", "ERROR", "LOG"];

    private SessionTestHost host = null!;
    private SessionsApi alice = null!;

    public async Task InitializeAsync()
    {
        host = await SessionTestHost.StartAsync(azurite);
        alice = SessionsApi.Alice(host);
    }

    public async Task DisposeAsync() => await host.DisposeAsync();

    private static List<JsonElement> Messages(HttpAnswer answer) => [.. answer.Json.GetProperty("messages").EnumerateArray()];

    private static long[] Ids(HttpAnswer answer) => [.. Messages(answer).Select(m => m.GetProperty("id").GetInt64())];

    [Fact]
    public async Task Send_ToRunningSession_200ExactBody_AndRecordedAsUser()
    {
        var id = await alice.CreateIdAsync(SessionsApi.LongGoal);

        var answer = (await alice.SendTextAsync(id, "also check prices")).Expect(200);

        Assert.Equal("""{"success":true,"message":"Message sent successfully"}""", answer.Raw);
        var messages = (await alice.MessagesAsync(id)).Expect(200);
        Assert.Contains(Messages(messages), m => m.GetProperty("type").GetString() == "USER"
            && m.GetProperty("content").ValueKind == JsonValueKind.String && m.GetProperty("content").GetString() == "also check prices");
        Assert.Equal("running", await alice.StatusOfAsync(id));
    }

    [Fact]
    public async Task Send_ToReadySession_StartsATask()
    {
        var id = await alice.CreateIdAsync();
        Assert.Equal("ready", await alice.StatusOfAsync(id));

        (await alice.MessageAsync(id, JsonSerializer.Serialize(new { message = SessionsApi.LongGoal, start_url = "https://example.com/start" })))
            .Expect(200);

        Assert.Equal("running", await alice.StatusOfAsync(id));
    }

    [Fact]
    public async Task Send_AnswersAQuestion_SessionRunsOn()
    {
        var id = await alice.CreateIdAsync("[ask] [steps=2] [delay=100] plan a trip");
        await alice.WaitForStatusAsync(id, "waiting_for_input");

        (await alice.SendTextAsync(id, "keep it cheap")).Expect(200);

        Assert.NotEqual("waiting_for_input", await alice.StatusOfAsync(id));
        await alice.WaitForStatusAsync(id, "finished");
    }

    [Fact]
    public async Task Send_ToPausedSession_RecordedStaysPaused_ThenResumeRunsOn()
    {
        var id = await alice.CreateIdAsync(SessionsApi.LongGoal);
        (await alice.PauseAsync(id)).Expect(200);

        (await alice.SendTextAsync(id, "while you were paused")).Expect(200);

        Assert.Equal("paused", await alice.StatusOfAsync(id));
        var resumed = (await alice.ResumeAsync(id)).Expect(200);
        Assert.Equal("running", resumed.String("status"));
        await Eventually.ValueAsync(async () => Messages((await alice.MessagesAsync(id)).Expect(200)),
            ms => ms.Any(m => m.GetProperty("type").GetString() == "USER" && m.GetProperty("content").ToString() == "while you were paused"),
            null, "the message sent while paused to be in the transcript");
    }

    [Fact]
    public async Task Send_SdkExtraFields_Accepted()
    {
        var id = await alice.CreateIdAsync();
        const string body = """{"message":"[steps=1000] [delay=200] go","context":{"a":1},"config_updates":{"temperature":0.2},"start_url":null}""";
        (await alice.MessageAsync(id, body)).Expect(200);
        Assert.Equal("running", await alice.StatusOfAsync(id));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"message":null}""")]
    [InlineData("""{"message":""}""")]
    [InlineData("""{"message":42}""")]
    [InlineData("""{"message":["hi"]}""")]
    [InlineData("""{"text":"hi"}""")]
    [InlineData("""{"message":"hi","start_url":"ftp://example.com"}""")]
    [InlineData("""{"message":"hi","start_url":"/relative"}""")]
    [InlineData("""{"message":"hi","start_url":"example.com"}""")]
    [InlineData("""{"message":"hi","start_url":""}""")]
    [InlineData("""{"message":"hi","start_url":7}""")]
    public async Task Send_InvalidFields_422AndNothingRecorded(string body)
    {
        var id = await alice.CreateIdAsync();

        (await alice.MessageAsync(id, body)).ExpectError(422);

        Assert.Equal("ready", await alice.StatusOfAsync(id));
        Assert.Empty(Messages((await alice.MessagesAsync(id)).Expect(200)));
    }

    [Fact]
    public async Task Send_MessageLengthLimit()
    {
        var id = await alice.CreateIdAsync(SessionsApi.LongGoal);

        (await alice.SendTextAsync(id, new string('m', MessageFunctions.MaxMessageLength + 1))).ExpectError(422);
        (await alice.SendTextAsync(id, new string('m', MessageFunctions.MaxMessageLength))).Expect(200);
    }

    [Fact]
    public async Task Send_StartUrlOverLimit_422()
    {
        var id = await alice.CreateIdAsync();
        var url = "https://example.com/" + new string('u', 2000);
        (await alice.MessageAsync(id, JsonSerializer.Serialize(new { message = "hi", start_url = url }))).ExpectError(422);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("[]")]
    [InlineData("""["hi"]""")]
    [InlineData("\"hi\"")]
    public async Task Send_EmptyOrMalformedOrNonObjectBody_400(string body)
    {
        var id = await alice.CreateIdAsync();
        (await alice.MessageAsync(id, body)).ExpectError(400);
    }

    [Fact]
    public async Task Send_NoBodyAtAll_400()
    {
        var id = await alice.CreateIdAsync();
        var call = new HttpCall("POST", $"/v1/sessions/{id}/message").Bearer(SessionTestHost.AliceKey);
        (await call.InvokeAsync(r => host.MessageFunctions.SendAsync(r, id, host.Client, default))).ExpectError(400);
    }

    [Fact]
    public async Task Send_LoneSurrogateEscape_IsNot500()
    {
        var id = await alice.CreateIdAsync();
        var answer = await alice.MessageAsync(id, "{\"message\":\"\\ud800\"}");
        Assert.True(answer.Status is 400 or 422 or 200, answer.ToString());
        if (answer.Status != 200)
        {
            HttpAnswer.AssertErrorBody(answer);
        }
    }

    [Fact]
    public async Task Send_ToUnknownSession_404()
    {
        (await alice.SendTextAsync(Guid.NewGuid().ToString("D"), "hello")).ExpectError(404);
    }

    [Fact]
    public async Task Messages_ShapeAndContiguousIds()
    {
        var id = await alice.CreateIdAsync("[steps=4] four steps");
        await alice.WaitForStatusAsync(id, "finished");

        var answer = (await alice.MessagesAsync(id)).Expect(200);

        AssertMessagesBodyKeys(answer);
        Assert.True(answer.Json.GetProperty("has_agent").GetBoolean());
        Assert.Equal("finished", answer.String("status"));
        var messages = Messages(answer);
        Assert.NotEmpty(messages);
        Assert.Equal(Enumerable.Range(1, messages.Count).Select(i => (long)i).ToArray(), Ids(answer));
        foreach (var message in messages)
        {
            Assert.Equal(["content", "id", "metadata", "timestamp", "type"],
                message.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray());
            Assert.Contains(message.GetProperty("type").GetString()!, MessageTypeNames);
            Assert.True(message.GetProperty("content").ValueKind is JsonValueKind.String or JsonValueKind.Object, message.ToString());
            Assert.Equal(JsonValueKind.Object, message.GetProperty("metadata").ValueKind);
            Assert.Matches(SessionsApi.WireTime(), message.GetProperty("timestamp").GetString()!);
        }

        Assert.Equal("USER", messages[0].GetProperty("type").GetString());
        Assert.Equal("[steps=4] four steps", messages[0].GetProperty("content").GetString());
        Assert.Equal("DONE", messages[^1].GetProperty("type").GetString());
        Assert.Equal(4, messages.Count(m => m.GetProperty("type").GetString() == "THOUGHT"));
        var timestamps = messages.Select(m => m.GetProperty("timestamp").GetString()!).ToList();
        Assert.Equal(timestamps.Order(StringComparer.Ordinal).ToList(), timestamps);
    }

    [Fact]
    public async Task Messages_AfterId_ReturnsOnlyLaterIds()
    {
        var id = await alice.CreateIdAsync("[steps=4] four steps");
        await alice.WaitForStatusAsync(id, "finished");
        var all = Ids((await alice.MessagesAsync(id)).Expect(200));
        Assert.True(all.Length >= 4, string.Join(",", all));

        Assert.Equal(all, Ids((await alice.MessagesAsync(id, ("after_id", "0"))).Expect(200)));
        Assert.Equal(all.Where(i => i > 2).ToArray(), Ids((await alice.MessagesAsync(id, ("after_id", "2"))).Expect(200)));
        Assert.Equal([all[^1]], Ids((await alice.MessagesAsync(id, ("after_id", (all[^1] - 1).ToString(System.Globalization.CultureInfo.InvariantCulture)))).Expect(200)));
        Assert.Empty(Ids((await alice.MessagesAsync(id, ("after_id", all[^1].ToString(System.Globalization.CultureInfo.InvariantCulture)))).Expect(200)));
        Assert.Empty(Ids((await alice.MessagesAsync(id, ("after_id", "1000000"))).Expect(200)));
        Assert.Empty(Ids((await alice.MessagesAsync(id, ("after_id", long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture)))).Expect(200)));
    }

    [Fact]
    public async Task Messages_IdsKeepIncreasingAcrossTasks()
    {
        var id = await alice.CreateIdAsync(SessionsApi.ShortGoal);
        await alice.WaitForStatusAsync(id, "finished");
        var first = Ids((await alice.MessagesAsync(id)).Expect(200));

        (await alice.SendTextAsync(id, SessionsApi.ShortGoal)).Expect(200);
        await alice.WaitForStatusAsync(id, "finished");
        var second = Ids((await alice.MessagesAsync(id)).Expect(200));

        Assert.Equal(Enumerable.Range(1, second.Length).Select(i => (long)i).ToArray(), second);
        Assert.True(second.Length > first.Length);
        Assert.Equal(first, second[..first.Length]);
        Assert.Equal(second[first.Length..], Ids((await alice.MessagesAsync(id, ("after_id", first[^1].ToString(System.Globalization.CultureInfo.InvariantCulture)))).Expect(200)));
    }

    [Theory]
    [InlineData("after_id", "-1")]
    [InlineData("after_id", "x")]
    [InlineData("after_id", "1.5")]
    [InlineData("after_id", "99999999999999999999999")]
    [InlineData("after_id", "0x10")]
    [InlineData("sanitize", "maybe")]
    [InlineData("limit", "0")]
    [InlineData("limit", "abc")]
    public async Task Messages_BadQuery_422(string name, string value)
    {
        var id = await alice.CreateIdAsync();
        (await alice.MessagesAsync(id, (name, value))).ExpectError(422);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("false")]
    public async Task Messages_SanitizeTrueOrFalse_Accepted(string sanitize)
    {
        var id = await alice.CreateIdAsync(SessionsApi.ShortGoal);
        await alice.WaitForStatusAsync(id, "finished");
        var answer = (await alice.MessagesAsync(id, ("after_id", "0"), ("sanitize", sanitize))).Expect(200);
        Assert.NotEmpty(Messages(answer));
    }

    [Fact]
    public async Task Messages_SanitizeRemovesControlCharacters()
    {
        var id = await alice.CreateIdAsync();
        (await alice.SendTextAsync(id, "[steps=1000] [delay=200] red \u001b[31mtext\u001b[0m\u0007 done")).Expect(200);

        var clean = Messages((await alice.MessagesAsync(id)).Expect(200)).First(m => m.GetProperty("type").GetString() == "USER");
        Assert.Equal("[steps=1000] [delay=200] red text done", clean.GetProperty("content").GetString());
        var raw = Messages((await alice.MessagesAsync(id, ("sanitize", "false"))).Expect(200)).First(m => m.GetProperty("type").GetString() == "USER");
        Assert.Contains("\u001b[31m", raw.GetProperty("content").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_ReadySession_EmptyListAndStatus()
    {
        var id = await alice.CreateIdAsync();
        var answer = (await alice.MessagesAsync(id)).Expect(200);
        AssertMessagesBodyKeys(answer);
        Assert.Empty(Messages(answer));
        Assert.Equal("ready", answer.String("status"));
        Assert.True(answer.Json.GetProperty("has_agent").GetBoolean());
    }

    /// <summary>
    /// Exactly messages, status and has_agent — plus, optionally, the camelCase alias hasAgent that the
    /// app also sends for the C# SDK (see MessagesBody), which must then agree with has_agent.
    /// </summary>
    private static void AssertMessagesBodyKeys(HttpAnswer answer)
    {
        var names = answer.Json.EnumerateObject().Select(p => p.Name).Where(n => n != "hasAgent").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["has_agent", "messages", "status"], names);
        Assert.Equal(JsonValueKind.Array, answer.Json.GetProperty("messages").ValueKind);
        Assert.Contains(answer.String("status"), SessionsApi.Statuses);
        if (answer.Json.TryGetProperty("hasAgent", out var alias))
        {
            Assert.Equal(answer.Json.GetProperty("has_agent").GetBoolean(), alias.GetBoolean());
        }
    }
}
