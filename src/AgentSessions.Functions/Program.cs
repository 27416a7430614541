using AgentSessions.Functions;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Observability;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.Configure<KestrelServerOptions>(RequestHeaderEncoding.Configure);
builder.UseMiddleware<SessionLogScopeMiddleware>();
builder.UseMiddleware<ErrorBodyMiddleware>();
builder.Services.AddAgentSessions(builder.Configuration);
builder.Services.AddObservability(builder.Configuration);
builder.Build().Run();
