import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'

/**
 * Security headers. The CSP lets a same-origin dashboard and Swagger UI
 * work with no inline code: scripts, styles, fonts and images from 'self',
 * EventSource/fetch to 'self'. No upgrade-insecure-requests, so the service
 * still works when reached over plain HTTP on a LAN address.
 */
export default fp(async (app) => {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"]
      }
    },
    // Same-origin resources only: nothing the dashboard loads needs CORP relaxed.
    crossOriginEmbedderPolicy: false
  })
}, { name: 'helmet' })
