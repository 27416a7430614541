using System.Security.Cryptography;
using System.Text;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

[Collection(AzuriteFixture.CollectionName)]
public sealed class AuthHttpTests(AzuriteFixture azurite) : HostedHttpTests(azurite)
{

    private static string BobDigest => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(SessionTestHost.BobKey))).ToLowerInvariant();

    /// <summary>Authorization header values that must all be refused; null sends no header.</summary>
    private static readonly string?[] BadHeaders =
    [
        null,
        "Bearer wrong-key",
        "Basic xyz",
        "Bearer ",
        "Bearer    ",
        "Bearer",
        SessionTestHost.AliceKey,
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:" + SessionTestHost.AliceKey)),
        "Bearer " + SessionTestHost.AliceKey + "x",
        "Bearer sha256:" + BobDigest,
        "Bearer " + BobDigest,
    ];

    [Theory]
    [MemberData(nameof(SessionsApi.EndpointData), MemberType = typeof(SessionsApi))]
    public async Task EveryEndpoint_WithoutAValidBearerKey_401WithErrorBody(string endpoint)
    {
        var id = await Alice.CreateIdAsync(SessionsApi.LongGoal);

        foreach (var header in BadHeaders)
        {
            var answer = await Alice.As(header).InvokeAsync(endpoint, id);
            Assert.True(answer.Status == 401, $"Authorization '{header ?? "(none)"}': {answer}");
            answer.ExpectError(401, "unauthorized");
        }

        // Nothing happened on anyone's behalf.
        Assert.Equal("running", await Alice.StatusOfAsync(id));
        var list = (await Alice.ListAsync()).Expect(200);
        Assert.Equal(id, Assert.Single(list.Json.EnumerateArray()).GetProperty("session_id").GetString());
        var messages = (await Alice.MessagesAsync(id)).Expect(200);
        Assert.DoesNotContain(messages.Json.GetProperty("messages").EnumerateArray(),
            m => m.GetProperty("type").GetString() == "USER" && m.GetProperty("content").ValueKind == System.Text.Json.JsonValueKind.String
                && m.GetProperty("content").GetString() == "hello");
    }

    [Theory]
    [MemberData(nameof(SessionsApi.EndpointData), MemberType = typeof(SessionsApi))]
    public async Task EveryEndpoint_UnauthenticatedOnAnUnknownId_IsStill401(string endpoint)
    {
        var answer = await Alice.As(null).InvokeAsync(endpoint, Guid.NewGuid().ToString("D"));
        answer.ExpectError(401, "unauthorized");
    }

    [Fact]
    public async Task Create_UnauthenticatedWithInvalidBody_401BeforeValidation()
    {
        var stranger = Alice.As("Bearer nope");
        (await stranger.CreateAsync("{ not json")).ExpectError(401);
        (await stranger.CreateAsync("""{"max_steps":0}""")).ExpectError(401);
    }

    [Fact]
    public async Task Message_UnauthenticatedWithInvalidBody_401BeforeValidation()
    {
        var id = await Alice.CreateIdAsync();
        var stranger = Alice.As(null);
        (await stranger.MessageAsync(id, "{ not json")).ExpectError(401);
        (await stranger.MessageAsync(id, "{}")).ExpectError(401);
    }

    [Theory]
    [InlineData("Bearer " + SessionTestHost.AliceKey)]
    [InlineData("bearer " + SessionTestHost.AliceKey)]
    [InlineData("BEARER " + SessionTestHost.AliceKey)]
    [InlineData("Bearer  " + SessionTestHost.AliceKey + " ")]
    public async Task ValidKey_SchemeCaseAndSurroundingSpacesTolerated(string header)
    {
        var answer = (await Alice.As(header).CreateAsync("{}")).Expect(201);
        Assert.Equal("ready", answer.String("status"));
    }

    [Fact]
    public async Task HashedKeyEntry_AuthenticatesItsOwner()
    {
        var id = await Bob.CreateIdAsync();
        (await Bob.GetAsync(id)).Expect(200);
        (await Alice.GetAsync(id)).ExpectError(404);
    }
}
