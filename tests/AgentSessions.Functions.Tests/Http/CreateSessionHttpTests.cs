using System.Text;
using System.Text.Json;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

public abstract class CreateSessionHttpTests(AzuriteFixture azurite) : HostedHttpTests(azurite)
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : CreateSessionHttpTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : CreateSessionHttpTests(azurite)
    {
    }


    [Fact]
    public async Task Create_WithoutGoal_201ReadyWithExactShape()
    {
        var answer = (await Alice.CreateAsync("""{"agent_name":"agi-0"}""")).Expect(201);

        var json = answer.Json;
        Assert.Equal(JsonValueKind.Object, json.ValueKind);
        Assert.Equal(["agent_name", "created_at", "session_id", "status", "vnc_url"],
            json.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray());
        Assert.Matches(SessionsApi.LowercaseUuid(), answer.String("session_id"));
        Assert.Equal(JsonValueKind.Null, json.GetProperty("vnc_url").ValueKind);
        Assert.Equal("agi-0", answer.String("agent_name"));
        Assert.Equal("ready", answer.String("status"));
        Assert.Matches(SessionsApi.WireTime(), answer.String("created_at"));
        var created = DateTimeOffset.Parse(answer.String("created_at"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(created, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    [Fact]
    public async Task Create_WithGoal_201RunningAndGoalEchoed()
    {
        var answer = (await Alice.CreateAsync(JsonSerializer.Serialize(new { goal = SessionsApi.LongGoal }))).Expect(201);

        Assert.Equal(["agent_name", "created_at", "goal", "session_id", "status", "vnc_url"],
            answer.Json.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal("running", answer.String("status"));
        Assert.Equal(SessionsApi.LongGoal, answer.String("goal"));
        Assert.Equal("agi-0", answer.String("agent_name"));
        Assert.Equal(JsonValueKind.Null, answer.Json.GetProperty("vnc_url").ValueKind);
        Assert.Matches(SessionsApi.LowercaseUuid(), answer.String("session_id"));
        Assert.Matches(SessionsApi.WireTime(), answer.String("created_at"));

        // A GET right after the create never sees the state from before the goal.
        Assert.Equal("running", await Alice.StatusOfAsync(answer.String("session_id")));
    }

    [Fact]
    public async Task Create_EmptyBody_DefaultsToAgi0Ready()
    {
        var answer = (await Alice.CreateAsync(HttpCall.Post("/v1/sessions").Bearer(SessionTestHost.AliceKey))).Expect(201);
        Assert.Equal("agi-0", answer.String("agent_name"));
        Assert.Equal("ready", answer.String("status"));
        Assert.False(answer.Json.TryGetProperty("goal", out _));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("  \r\n ")]
    [InlineData("""{"goal":null,"agent_name":null,"max_steps":null,"webhook_url":null}""")]
    public async Task Create_EmptyOrNullFields_Defaults(string body)
    {
        var answer = (await Alice.CreateAsync(body)).Expect(201);
        Assert.Equal("agi-0", answer.String("agent_name"));
        Assert.Equal("ready", answer.String("status"));
        Assert.False(answer.Json.TryGetProperty("goal", out _));
    }

    [Fact]
    public async Task Create_OtherAgentName_IsEchoed()
    {
        var answer = (await Alice.CreateAsync("""{"agent_name":"agi-0-fast"}""")).Expect(201);
        Assert.Equal("agi-0-fast", answer.String("agent_name"));
        var get = (await Alice.GetAsync(answer.String("session_id"))).Expect(200);
        Assert.Equal("agi-0-fast", get.String("agent_name"));
    }

    [Fact]
    public async Task Create_SdkFieldsWithNoMeaningHere_AreAcceptedAndIgnored()
    {
        const string body = """
            {
              "agent_name": "agi-0",
              "max_steps": 1000,
              "restore_from_session_id": "00000000-0000-0000-0000-000000000000",
              "enable_memory_snapshot": true,
              "agent_session_type": "managed",
              "cdp_url": "ws://127.0.0.1:9222/devtools/browser/x",
              "model": "gpt-whatever",
              "environment_type": "browser",
              "some_future_field": {"nested": [1, 2, 3]}
            }
            """;
        var answer = (await Alice.CreateAsync(body)).Expect(201);
        Assert.Equal("ready", answer.String("status"));
        Assert.Equal(["agent_name", "created_at", "session_id", "status", "vnc_url"],
            answer.Json.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray());
    }

    [Theory]
    [InlineData("desktop")]
    [InlineData("managed-cdp")]
    [InlineData("managedcdp")]
    public async Task Create_AnyAgentSessionType_IsAcceptedAndIgnored(string type)
    {
        var answer = (await Alice.CreateAsync($$"""{"agent_session_type": "{{type}}"}""")).Expect(201);
        Assert.Equal("ready", answer.String("status"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(1000)]
    public async Task Create_MaxStepsInRange_Accepted(int maxSteps)
    {
        (await Alice.CreateAsync($$"""{"max_steps":{{maxSteps}}}""")).Expect(201);
    }

    [Theory]
    [InlineData("{")]
    [InlineData("""{"goal": "x",}""")]
    [InlineData("not json")]
    [InlineData("""{"goal": "unterminated}""")]
    [InlineData("{}{}")]
    public async Task Create_MalformedJson_400(string body)
    {
        (await Alice.CreateAsync(body)).ExpectError(400);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("""[{"goal":"x"}]""")]
    [InlineData("\"a string\"")]
    [InlineData("42")]
    [InlineData("null")]
    [InlineData("true")]
    public async Task Create_JsonThatIsNotAnObject_400(string body)
    {
        (await Alice.CreateAsync(body)).ExpectError(400);
    }

    [Fact]
    public async Task Create_DeeplyNestedJson_IsNot500()
    {
        var body = "{\"x\":" + new string('[', 5000) + new string(']', 5000) + "}";
        (await Alice.CreateAsync(body)).ExpectError(400);
    }

    [Theory]
    [InlineData("""{"max_steps":0}""")]
    [InlineData("""{"max_steps":1001}""")]
    [InlineData("""{"max_steps":-1}""")]
    [InlineData("""{"max_steps":"abc"}""")]
    [InlineData("""{"max_steps":"10"}""")]
    [InlineData("""{"max_steps":1.5}""")]
    [InlineData("""{"max_steps":1e400}""")]
    [InlineData("""{"max_steps":99999999999999999999999}""")]
    [InlineData("""{"max_steps":true}""")]
    [InlineData("""{"max_steps":{}}""")]
    public async Task Create_BadMaxSteps_422(string body)
    {
        (await Alice.CreateAsync(body)).ExpectError(422);
    }

    [Theory]
    [InlineData("""{"agent_name":"gpt-5"}""")]
    [InlineData("""{"agent_name":"AGI-0"}""")]
    [InlineData("""{"agent_name":""}""")]
    [InlineData("""{"agent_name":42}""")]
    public async Task Create_UnknownOrInvalidAgentName_422(string body)
    {
        (await Alice.CreateAsync(body)).ExpectError(422);
    }

    [Fact]
    public async Task Create_GoalAtLimit_Accepted_OverLimit_422()
    {
        var atLimit = "[delay=200] [steps=1000] " + new string('g', SessionFunctions.MaxGoalLength - 25);
        Assert.Equal(SessionFunctions.MaxGoalLength, atLimit.Length);
        var ok = (await Alice.CreateAsync(JsonSerializer.Serialize(new { goal = atLimit }))).Expect(201);
        Assert.Equal(atLimit, ok.String("goal"));

        (await Alice.CreateAsync(JsonSerializer.Serialize(new { goal = new string('g', SessionFunctions.MaxGoalLength + 1) })))
            .ExpectError(422);
    }

    [Theory]
    [InlineData("""{"goal":""}""")]
    [InlineData("""{"goal":42}""")]
    [InlineData("""{"goal":["a"]}""")]
    public async Task Create_InvalidGoal_422(string body)
    {
        (await Alice.CreateAsync(body)).ExpectError(422);
    }

    [Theory]
    [InlineData("ftp://x")]
    [InlineData("ftp://example.com/hook")]
    [InlineData("/relative/hook")]
    [InlineData("hooks.example.com/x")]
    [InlineData("javascript:alert(1)")]
    [InlineData("file:///etc/passwd")]
    [InlineData("http://")]
    [InlineData("")]
    public async Task Create_InvalidWebhookUrl_422(string url)
    {
        var answer = (await Alice.CreateAsync(JsonSerializer.Serialize(new { webhook_url = url }))).ExpectError(422);
        Assert.StartsWith("webhook_url", answer.String("message"), StringComparison.Ordinal);
        Assert.DoesNotContain("not configured", answer.String("message"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_WebhookUrlOverLimit_422()
    {
        var url = "https://example.com/" + new string('a', SessionFunctions.MaxUrlLength);
        (await Alice.CreateAsync(JsonSerializer.Serialize(new { webhook_url = url }))).ExpectError(422);
    }

    [Theory]
    [InlineData("http://example.com/hook")]
    [InlineData("https://example.com:8443/hook?a=b")]
    public async Task Create_ValidWebhookUrl_NotRejectedAsMalformed(string url)
    {
        // The test Host configures no webhook signing secret; such a deployment refuses every webhook_url
        // with a 422 that says so. What matters here is that the URL itself passes validation.
        var answer = await Alice.CreateAsync(JsonSerializer.Serialize(new { webhook_url = url }));
        if (answer.Status == 422)
        {
            answer.ExpectError(422);
            Assert.Contains("not configured", answer.String("message"), StringComparison.Ordinal);
        }
        else
        {
            answer.Expect(201);
        }
    }

    [Theory]
    [InlineData("{\"goal\":\"\\ud800\"}")] // a lone surrogate escape: syntactically valid JSON, not a valid string
    [InlineData("{\"agent_name\":\"\\udc00x\"}")]
    public async Task Create_StringWithLoneSurrogateEscape_IsNot500(string body)
    {
        var answer = await Alice.CreateAsync(body);
        Assert.True(answer.Status is 400 or 422 or 201, answer.ToString());
        if (answer.Status != 201)
        {
            HttpAnswer.AssertErrorBody(answer);
        }
    }

    [Fact]
    public async Task Create_InvalidUtf8InString_IsNot500()
    {
        byte[] body = [.. "{\"goal\":\""u8, 0xFF, 0xFE, .. "\"}"u8];
        var answer = await Alice.CreateAsync(HttpCall.Post("/v1/sessions").Bearer(SessionTestHost.AliceKey).Body(body));
        Assert.True(answer.Status is 400 or 422, answer.ToString());
        HttpAnswer.AssertErrorBody(answer);
    }

    [Fact]
    public async Task Create_BodyWithUtf8ByteOrderMark_IsNot500()
    {
        byte[] body = [0xEF, 0xBB, 0xBF, .. """{"agent_name":"agi-0"}"""u8];
        var answer = await Alice.CreateAsync(HttpCall.Post("/v1/sessions").Bearer(SessionTestHost.AliceKey).Body(body));
        Assert.True(answer.Status is 201 or 400, answer.ToString());
        if (answer.Status == 400)
        {
            HttpAnswer.AssertErrorBody(answer);
        }
    }

    [Fact]
    public async Task Create_ErrorsNeverStartASession()
    {
        (await Alice.CreateAsync("""{"goal":"x","max_steps":0}""")).ExpectError(422);
        (await Alice.CreateAsync("""{"goal":"x","agent_name":"nope"}""")).ExpectError(422);
        (await Alice.CreateAsync("""{"goal":"x","webhook_url":"ftp://x"}""")).ExpectError(422);
        var list = (await Alice.ListAsync()).Expect(200);
        Assert.Equal(0, list.Json.GetArrayLength());
    }
}

/// <summary>The body limit, on a Host whose limit is small.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class BodyLimitHttpTests(AzuriteFixture azurite) : HostedHttpTests(azurite, new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(20), MaxBodyBytes = Limit })
{
    private const int Limit = 2048;

    /// <summary>A valid JSON object of exactly <paramref name="size"/> bytes.</summary>
    private static byte[] Padded(int size)
    {
        const string prefix = "{\"model\":\"";
        const string suffix = "\"}";
        return Encoding.UTF8.GetBytes(prefix + new string('m', size - prefix.Length - suffix.Length) + suffix);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Create_BodyOverLimit_413(bool declareLength)
    {
        var call = Alice.CreateCall().Body(Padded(4096), declareLength);
        (await Alice.CreateAsync(call)).ExpectError(413);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Create_BodyOneByteOverLimit_413(bool declareLength)
    {
        var call = Alice.CreateCall().Body(Padded(Limit + 1), declareLength);
        (await Alice.CreateAsync(call)).ExpectError(413);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Create_BodyExactlyAtLimit_Accepted(bool declareLength)
    {
        var call = Alice.CreateCall().Body(Padded(Limit), declareLength);
        (await Alice.CreateAsync(call)).Expect(201);
    }

    [Fact]
    public async Task Message_BodyOverLimit_413()
    {
        var id = await Alice.CreateIdAsync();
        var text = new string('x', 4096);
        var answer = await Alice.MessageAsync(id, JsonSerializer.Serialize(new { message = text }));
        answer.ExpectError(413);
        Assert.Equal("ready", await Alice.StatusOfAsync(id));
    }
}
